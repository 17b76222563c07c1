"""Server-Sent Event streams: who may open one (without holding a database connection), FastAPI's
SSE framing, a slot per stream of each user and of the lab, keep-alives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from starlette.background import BackgroundTask

from backend.auth.rules import Identity, bearer_scheme, cookie_scheme, identify, member
from backend.db import SessionLocal
from backend.limits import event_streams


def stream_member(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Identity:
    """The ``member`` rule, checked with a session of its own that is closed before the stream
    starts: a stream lives for hours and must not hold one of the pool's connections meanwhile
    (the request-scoped session of ``SessionDep`` would be released only when the stream ends)."""
    with SessionLocal() as session:
        identity = member(request, identify(request, session, bearer, cookie))
        assert identity.user is not None  # member() lets signed-in users through only
        session.expunge_all()  # the user's id and name stay readable; nothing else is loaded later
    return identity


stream_member.__rule__ = "member"  # type: ignore[attr-defined]  # the rule it applies (test_permissions reads it)
StreamMember = Annotated[Identity, Depends(stream_member)]


def sse(event: str, data: str, event_id: str | None = None) -> bytes:
    """One event in FastAPI's SSE framing (fastapi.sse); ``data`` is JSON already."""
    return format_sse_event(event=event, data_str=data, id=event_id)


RETRY = format_sse_event(retry=1000)  # EventSource reconnects after 1 s


KEEPALIVE_S = 15.0


def event_stream(identity: Identity, chunks: AsyncIterator[bytes]) -> EventSourceResponse:
    """An SSE response holding one of the caller's stream slots (429 past the per-user limit),
    given back when the stream ends or the response does, whichever comes first."""
    assert identity.user is not None  # Member: a signed-in user
    release = event_streams.take(identity.user.id)

    async def stream() -> AsyncIterator[bytes]:
        pending: asyncio.Future[bytes] | None = None
        try:
            while True:
                pending = pending or asyncio.ensure_future(anext(chunks))
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
                if not done:  # a quiet stream: a comment keeps proxies and clients from hanging up
                    yield KEEPALIVE_COMMENT
                    continue
                try:
                    chunk = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield chunk
        finally:
            if pending is not None:
                pending.cancel()
            release()

    return EventSourceResponse(stream(), background=BackgroundTask(release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
