"""Server-Sent Event streams: who may open one (``StreamMember``: a member, checked without holding
a database connection), FastAPI's SSE framing, a slot per stream of each user and of the lab,
keep-alives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from starlette.background import BackgroundTask

from backend.core.errors import ErrorBody
from backend.core.limits import event_streams
from backend.identity.rules import BriefMember, Identity


def sse(event: str, data: str, event_id: str | None = None) -> bytes:
    """One event in FastAPI's SSE framing (fastapi.sse); ``data`` is JSON already."""
    return format_sse_event(event=event, data_str=data, id=event_id)


RETRY = format_sse_event(retry=1000)  # EventSource reconnects after 1 s


StreamMember = BriefMember
KEEPALIVE_S = 15.0


def stream_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of an event-stream route: the stream (``what`` it is), or 429 past a cap."""
    return {200: {"content": {"text/event-stream": {}}, "description": what},
            429: {"model": ErrorBody, "description": "Too many open event streams (CNNLAB_MAX_EVENT_STREAMS_PER_USER, "
                                                     "CNNLAB_MAX_EVENT_STREAMS)"}}


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
