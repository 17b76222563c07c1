"""`python -m backend.cli.serve` — the backend on CNNLAB_HOST:CNNLAB_PORT (one command everywhere).

It refuses to start (exit 2, the reason on stderr) when the identity mode would leave the lab
open or closed to everyone: see backend.identity.mode.

Connections are bounded (CNNLAB_KEEPALIVE_S, CNNLAB_HEADER_TIMEOUT_S, CNNLAB_MAX_CONNECTIONS).
uvicorn's own keep-alive timer starts only when a response ends and stops at the first byte of the
next request, so by itself it never closes a connection that sends nothing after connecting or
stops half-way through its headers: HeadTimeoutProtocol adds that deadline."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from backend.core.errors import StartupRefused
from backend.core.settings import settings
from backend.main import check_startup

MAX_HEAD_BYTES = 16_384  # a request line and its headers (h11's own default, stated)


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, where a request's line and headers must all arrive within
    CNNLAB_HEADER_TIMEOUT_S of the connection opening — or, on a kept-alive connection, within
    CNNLAB_KEEPALIVE_S + CNNLAB_HEADER_TIMEOUT_S of the previous response ending (a silent one is
    closed by uvicorn's keep-alive timer first) — or the connection is closed. A request whose head
    has arrived (its body, its response, an event stream) is not timed out here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_awaited_after: RequestResponseCycle | None = None  # the cycle current when the timer started

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.await_head(settings.HEADER_TIMEOUT_S)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.await_head(settings.KEEPALIVE_S + settings.HEADER_TIMEOUT_S)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def await_head(self, within_s: float) -> None:
        self.stop_head_timer()
        if not self.transport.is_closing():
            self.head_awaited_after = self.cycle
            self.head_timer = self.loop.call_later(within_s, self.head_timed_out)

    def stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        self.head_timer = None
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not self.head_awaited_after:
            return  # the next request's head arrived in time
        if cycle is not None and not cycle.response_complete:
            return  # a pipelined request, being answered
        if not self.transport.is_closing():
            self.transport.close()


def connection_options() -> dict[str, Any]:
    """Idle and half-sent connections closed, request heads and open connections bounded."""
    return {"http": "backend.cli.serve:HeadTimeoutProtocol",  # by name: every uvicorn worker process imports it
            "ws": "none",  # the app serves no websockets
            "timeout_keep_alive": settings.KEEPALIVE_S, "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
            "limit_concurrency": settings.MAX_CONNECTIONS or None}


def proxy_options() -> dict[str, Any]:
    """X-Forwarded-For/-Proto are believed only from the proxies named in CNNLAB_FORWARDED_ALLOW_IPS;
    by default from nobody: any process on this machine could otherwise name any client address
    (and slip past the per-address sign-in limit)."""
    allowed = settings.FORWARDED_ALLOW_IPS.strip()
    return {"proxy_headers": bool(allowed), "forwarded_allow_ips": allowed or None}


if __name__ == "__main__":
    try:
        check_startup()
    except StartupRefused as exc:
        print(f"cnnlab: not starting: {exc.message}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run("backend.main:app", host=settings.HOST, port=settings.PORT, log_level="info",
                workers=settings.BACKEND_PROCESSES if settings.BACKEND_PROCESSES > 1 else None,
                timeout_graceful_shutdown=3, **proxy_options(), **connection_options())
