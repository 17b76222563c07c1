"""Bounds every request meets before any work starts: the body's size, integers that fit the
database, open event streams per user. Each refusal is a 4xx naming the field and the limit."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Path, Query
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.core import statuses
from backend.core.errors import Refusal, field_detail
from backend.core.settings import settings

INT_MAX = 2**31 - 1  # ids and counters are 32-bit integers in PostgreSQL ("integer")

RunId = Annotated[int, Path(ge=1, le=INT_MAX, description="a run's id")]
SweepId = Annotated[int, Path(ge=1, le=INT_MAX, description="a sweep's id")]
SearchId = Annotated[int, Path(ge=1, le=INT_MAX, description="a search's id")]
StudyId = Annotated[int, Path(ge=1, le=INT_MAX, description="a study's id")]
TokenId = Annotated[int, Path(ge=1, le=INT_MAX, description="a token's id")]
UserId = Annotated[int, Path(ge=1, le=INT_MAX, description="a user's id")]
CheckpointKindPath = Annotated[statuses.CheckpointKind, Path(
    description="best: the weights of the epoch chosen on validation (on test for runs without a holdout); "
                "last: the latest epoch's, to resume from")]
EpochQuery = Annotated[int, Query(ge=0, le=INT_MAX, description="only epochs after this one")]


def too_large(field: str, limit: int, setting: str) -> HTTPException:
    """413 naming the field and the cap. An HTTPException, not a Refusal: it is raised while FastAPI
    reads the body, which turns any other exception into a 400."""
    return HTTPException(413, field_detail(field, f"is over the limit of {limit:,} bytes ({setting})"))


def is_checkpoint_upload(scope: Scope) -> bool:
    """A worker's checkpoint or model upload: streamed to disk under its own cap by its route."""
    path = scope.get("path", "")
    return scope.get("method") == "PUT" and path.startswith("/api/worker/runs/") and (
        "/checkpoints/" in path or path.endswith("/model"))


def body_cap(scope: Scope) -> tuple[int, str]:
    """The cap of a request's body and the setting that says it: images sent to be classified get
    CNNLAB_PREDICT_MAX_BYTES, everything else CNNLAB_MAX_BODY_BYTES."""
    path = scope.get("path", "")
    if scope.get("method") == "POST" and path.startswith("/api/runs/") and path.endswith("/predict"):
        return settings.PREDICT_MAX_BYTES, "CNNLAB_PREDICT_MAX_BYTES"
    return settings.MAX_BODY_BYTES, "CNNLAB_MAX_BODY_BYTES"


class BodyLimit:
    """Caps every request body at MAX_BODY_BYTES: by its Content-Length at once, else while it is
    read. The checkpoint upload streams to disk under its own cap (backend.workers.routes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_checkpoint_upload(scope):
            await self.app(scope, receive, send)
            return
        limit, setting = body_cap(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit, setting)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large("body", limit, setting)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, limit: int, setting: str) -> None:
    body = json.dumps({"detail": too_large("body", limit, setting).detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class UserSlots:
    """Things a user holds open at once in this backend process (event streams, classifications
    in flight), bounded per user and in all; each refusal is a 429 naming the setting."""

    def __init__(self, field: str, what: str, per_user: str, total: str) -> None:
        self.field, self.what, self.per_user, self.total_setting = field, what, per_user, total
        self._open: dict[int, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def _refuse(self, current: int, limit: int, per: str, setting: str) -> Refusal:
        return Refusal(self.field, f"{current} {self.what} are open; the limit is {limit} per {per} (CNNLAB_{setting})",
                       429, limit=limit, current=current, headers={"Retry-After": "5"})

    def take(self, user_id: int) -> Callable[[], None]:
        """One more slot of ``user_id`` (429 past the user's limit or the process's); returns its
        release, which may be called more than once (a stream's end and its response's end both do)."""
        limit, total = getattr(settings, self.per_user), getattr(settings, self.total_setting)
        with self._lock:
            current = self._open.get(user_id, 0)
            if limit and current >= limit:
                raise self._refuse(current, limit, "user", self.per_user)
            if total and self._total >= total:
                raise self._refuse(self._total, total, "backend process", self.total_setting)
            self._open[user_id] = current + 1
            self._total += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self._open[user_id] -= 1
                    self._total -= 1
                    if not self._open[user_id]:
                        del self._open[user_id]

        return release

    def count(self, user_id: int) -> int:
        with self._lock:
            return self._open.get(user_id, 0)

    def total(self) -> int:
        with self._lock:
            return self._total


event_streams = UserSlots("events", "event streams", "MAX_EVENT_STREAMS_PER_USER", "MAX_EVENT_STREAMS")
classifications = UserSlots("files", "classify requests", "PREDICT_MAX_PER_USER", "PREDICT_MAX_IN_FLIGHT")
