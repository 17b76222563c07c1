"""The FastAPI app: wires routers, error format, the reaper. Nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from backend import pages
from backend.api.routes import catalog, compare, health, runs, sweeps, worker
from backend.reaper import reap_forever
from backend.validation import describe_errors


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(reap_forever())
    try:
        yield
    finally:
        task.cancel()


def create_app() -> FastAPI:
    app = FastAPI(title="cnnlab", version="0.1.0", lifespan=lifespan,
                  description="Train small image classifiers under a budget and compare the runs.")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_errors(list(exc.errors()), drop_prefix=("body", "query", "path", "header"))}, status_code=422)

    @app.exception_handler(OperationalError)
    async def _database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "1"})

    for module in (runs, worker, catalog, sweeps, compare, health):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.FRONTEND / "static"), name="static")
    return app


app = create_app()
