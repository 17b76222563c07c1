"""What live pages are sent, built once per change and shared by every stream that follows it.

A stream waits on its topics (``backend.core.events``) and, when one moves, asks for the topic's
snapshot here: the first stream to ask builds it off the event loop with a short session of its
own (released before the snapshot is sent); the others of this process get the same object. So
300 open pages of one run cost one database read per change of that run, not 300, and an open
stream holds no database connection while it waits.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from backend.core import events
from backend.core.db import SessionLocal
from backend.core.statuses import ACTIVE_STATUSES, ModelStatus
from backend.core.tables import Run, RunModel
from backend.runs import queue_eta
from backend.runs import service as run_service
from backend.runs.schemas import MetricPublic, QueuePlace, RunPublic
from backend.runs.views import run_public, runs_public

T = TypeVar("T")

MAX_LISTED_ACTIVE = 500  # the runs list's stream follows at most this many queued or running runs
LIST_MIN_INTERVAL_S = 0.5  # the runs list is re-read at most this often, however busy the lab


class Snapshots:
    """Snapshots by topic, each kept with the versions it was built at (least recently used out)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._cache: OrderedDict[str, tuple[tuple[int, ...], Any]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.builds = 0  # how many were built (tests count them)

    async def get(self, key: str, versions: tuple[int, ...], build: Callable[[], T]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == versions:
                self._cache.move_to_end(key)
                value: T = hit[1]
                return value
            try:
                value = await run_in_threadpool(build)
            except BaseException:
                if key not in self._cache:
                    self._locks.pop(key, None)  # nothing kept for it: nor its lock
                raise
            self.builds += 1
            self._cache[key] = (versions, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                old, _ = self._cache.popitem(last=False)
                if old in self._locks and not self._locks[old].locked():
                    del self._locks[old]
            return value


class ModelState(BaseModel):
    """A run's exported model as its page follows it (the `model` event): being exported, ready, or
    why its export failed."""

    status: ModelStatus
    reason: str | None = None


class RunSnapshot(NamedTuple):
    run: RunPublic | None  # None: the run is gone
    metrics: list[MetricPublic]  # every recorded epoch
    model: ModelState | None  # None: no export asked for or made


def build_run(run_id: int) -> RunSnapshot:
    """A run's summary, every recorded epoch and its model's export."""
    with SessionLocal() as session:
        run = session.get(Run, run_id)
        if run is None:
            return RunSnapshot(None, [], None)
        row = session.get(RunModel, run_id)
        model = None if row is None else ModelState(status=ModelStatus(row.status), reason=row.reason)
        return RunSnapshot(run_public(run),
                           [MetricPublic.model_validate(m) for m in run_service.metrics_of(session, run_id)], model)


def build_active() -> dict[int, RunPublic]:
    """Every queued or running run (at most MAX_LISTED_ACTIVE, newest first)."""
    with SessionLocal() as session:
        rows = session.scalars(select(Run).where(Run.status.in_(ACTIVE_STATUSES))
                               .order_by(Run.id.desc()).limit(MAX_LISTED_ACTIVE)).all()
        return {r.id: r_public for r, r_public in zip(rows, runs_public(session, rows, None), strict=True)}


QUEUE_REFRESH_S = 5.0  # a queued run's stream re-reads its place in the queue this often


async def queue_places() -> dict[int, QueuePlace]:
    """Every queued run's place, read at most every couple of seconds for all the streams of this process."""
    return await run_in_threadpool(queue_eta.cached.get)


async def run_snapshot(snapshots: Snapshots, run_id: int) -> RunSnapshot:
    topic = events.run_topic(run_id)
    return await snapshots.get(topic, events.board.versions([topic]), lambda: build_run(run_id))


async def active_snapshot(snapshots: Snapshots) -> dict[int, RunPublic]:
    return await snapshots.get(events.RUNS, events.board.versions([events.RUNS]), build_active)
