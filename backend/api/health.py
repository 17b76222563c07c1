from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from backend.core import queue
from backend.core.db import engine
from backend.identity.rules import public

router = APIRouter(prefix="/api", tags=["health"], dependencies=[Depends(public)])


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok: every part answers (200); degraded: the database "
                                                          "does not (503)")
    database: str = Field(description="ok, or unreachable: the error's kind")
    broker: Literal["ok", "unreachable"]


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "The database does not answer"}})
def read_health(response: Response) -> Health:
    """Anyone (load balancers, compose health checks): says nothing but whether the parts answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001
        database = f"unreachable: {type(exc).__name__}"
    broker: Literal["ok", "unreachable"] = "ok" if queue.queued_message_count() is not None else "unreachable"
    ok = database == "ok"
    response.status_code = 200 if ok else 503
    return Health(status="ok" if ok else "degraded", database=database, broker=broker)
