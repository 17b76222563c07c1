from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.core import queue
from backend.core.db import engine
from backend.identity.rules import public

router = APIRouter(prefix="/api", tags=["health"], dependencies=[Depends(public)])


@router.get("/health")
def read_health() -> JSONResponse:
    """Anyone (load balancers, compose health checks): says nothing but whether the parts answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001
        database = f"unreachable: {type(exc).__name__}"
    broker = "ok" if queue.queued_message_count() is not None else "unreachable"
    ok = database == "ok"
    return JSONResponse({"status": "ok" if ok else "degraded", "database": database, "broker": broker},
                        status_code=200 if ok else 503)
