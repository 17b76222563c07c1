"""`python -m backend.serve` — the backend on CNNLAB_HOST:CNNLAB_PORT (one command everywhere)."""

from __future__ import annotations

import uvicorn

from backend.settings import settings

if __name__ == "__main__":
    uvicorn.run("backend.main:app", host=settings.HOST, port=settings.PORT, log_level="info",
                timeout_graceful_shutdown=3)
