"""`python -m backend.serve` — the backend on CNNLAB_HOST:CNNLAB_PORT (one command everywhere).

It refuses to start (exit 2, the reason on stderr) when the identity mode would leave the lab
open or closed to everyone: see backend.auth.mode."""

from __future__ import annotations

import sys

import uvicorn

from backend.auth.mode import StartupRefused
from backend.main import check_startup
from backend.settings import settings

if __name__ == "__main__":
    try:
        check_startup()
    except StartupRefused as exc:
        print(f"cnnlab: not starting: {exc.message}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run("backend.main:app", host=settings.HOST, port=settings.PORT, log_level="info",
                timeout_graceful_shutdown=3, proxy_headers=True, forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS)
