"""Where each queued run stands in the queue, and when it should start and finish.

**Order.** Runs are handed to workers in the order their messages entered the broker's queue
(backend.core.queue: one FIFO list; each worker takes one message at a time — prefetch 1, acks
late — and a worker skips a message whose run is no longer queued). A run enters the queue when it
is admitted (backend.runs.admission) or requeued after its worker was lost (its ``enqueued_at`` is
then set anew), so the queue's order is ``enqueued_at``, then ``id``. Position 1 is the next run a
free worker takes.

**Expected duration of a run** = min(its time budget left, epochs left × expected seconds per
epoch), where the budget left is its ``time_budget_s`` less the training seconds it already spent
(a requeued run resumes), and a running run's epochs left count the part of its current epoch that
its last heartbeat reported done.

**Expected seconds per epoch**, the first of:

1. the run's own measurement: the mean of its recorded epochs' seconds (``train_seconds /
   epochs_done``), else, inside its first epoch, the epoch at its heartbeat's images/s;
2. the mean epoch seconds of recent runs (finished, or running with an epoch done) of the same
   network (architecture name and MACs), batch size and number of training images;
3. a lab-wide rate — seconds per (MAC × training image), over those recent runs — times the run's
   MACs × training images;
4. none: the run is expected to use its whole time budget (an upper bound).

**Parallelism** = the workers up (``backend.workers.presence``), and never fewer than the runs
running. List scheduling: the running runs hold their workers until their expected end; each
queued run, in order, starts when the earliest worker frees and holds it for its expected
duration. With no worker up and nothing running, nothing will start: the ETAs are None.

Seconds are from now. They are estimates: epoch seconds include evaluation, the time a finished
run spends on its final evaluation and export is not counted.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import SessionLocal
from backend.core.statuses import FINISHED_STATUSES, RunStatus
from backend.core.tables import Run
from backend.runs.admission import CIFAR10_TRAIN_IMAGES
from backend.runs.schemas import QueuePlace, RunPublic
from backend.workers import presence

MAX_QUEUED = 10_000  # queued runs placed (beyond: no place given); one query reads them all
HISTORY_RUNS = 200  # recent runs whose epoch times estimate the epochs of runs not yet measured

Key = tuple[str, int, int, int | None]  # architecture, MACs, batch size, training images


# --- the estimator: pure ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """What is left of one run: its epochs and time budget, and its expected seconds per epoch
    (None: unknown; the run is then expected to use its whole budget)."""

    run_id: int
    epochs_left: float
    budget_left_s: float
    epoch_s: float | None

    @property
    def duration_s(self) -> float:
        budget = max(0.0, self.budget_left_s)
        if self.epoch_s is None:
            return budget
        return min(budget, max(0.0, self.epochs_left) * self.epoch_s)


@dataclass(frozen=True)
class Place:
    position: int  # 1: the next run a free worker takes
    ahead: int  # queued runs before it
    eta_start_s: float | None
    eta_finish_s: float | None
    workers_up: int


@dataclass(frozen=True)
class Measured:
    """Recent runs' epoch times: mean seconds per epoch by Key, and the lab-wide seconds per
    (MAC × training image)."""

    by_key: Mapping[Key, float]
    per_mac_image_s: float | None


def epoch_seconds(own: float | None, key: Key, macs: int, images: int | None, measured: Measured) -> float | None:
    """Expected seconds per epoch, by the module's rule: its own, same network and batch, lab-wide, none."""
    if own is not None and own > 0:
        return own
    if key in measured.by_key:
        return measured.by_key[key]
    if measured.per_mac_image_s is not None and images and macs > 0:
        return measured.per_mac_image_s * macs * images
    return None


def estimate(queued: Sequence[Load], running: Sequence[Load], workers_up: int) -> dict[int, Place]:
    """Each queued run's place (``queued`` in queue order) by list scheduling on
    max(workers_up, len(running)) workers; ETAs None when there is none."""
    workers = max(workers_up, len(running))
    free = sorted(r.duration_s for r in running) + [0.0] * (workers - len(running))
    heapq.heapify(free)
    places = {}
    for i, run in enumerate(queued):
        start = finish = None
        if free:
            start = heapq.heappop(free)
            finish = start + run.duration_s
            heapq.heappush(free, finish)
        places[run.run_id] = Place(position=i + 1, ahead=i, eta_start_s=start, eta_finish_s=finish,
                                   workers_up=workers_up)
    return places


def measure(samples: Iterable[tuple[Key, int, float]]) -> Measured:
    """(key, epochs done, training seconds) of recent runs → mean epoch seconds per key and the
    lab-wide seconds per (MAC × training image)."""
    seconds: dict[Key, float] = {}
    epochs: dict[Key, int] = {}
    lab_s, lab_work = 0.0, 0.0
    for key, done, spent in samples:
        if done <= 0 or spent <= 0:
            continue
        seconds[key] = seconds.get(key, 0.0) + spent
        epochs[key] = epochs.get(key, 0) + done
        _, macs, _, images = key
        if images and macs > 0:
            lab_s += spent
            lab_work += float(done) * macs * images
    return Measured({k: seconds[k] / epochs[k] for k in seconds}, lab_s / lab_work if lab_work else None)


# --- reading the lab: a bounded number of queries -----------------------------------------------

def training_images(config: Mapping[str, Any]) -> int | None:
    """Training images of a run's config: its train_limit, else CIFAR-10's less the holdout; None
    for another dataset without a train_limit (its size is known only to the worker)."""
    data = config.get("data") or {}
    holdout = int(data.get("holdout") or 0)
    limit = data.get("train_limit")
    if data.get("source", "cifar10") == "cifar10":
        left = CIFAR10_TRAIN_IMAGES - holdout
        return min(int(limit), left) if limit else left
    return int(limit) if limit else None


def key_of(architecture: str, macs: int, config: Mapping[str, Any]) -> Key:
    return architecture, macs, int(config.get("batch_size") or 0), training_images(config)


COLUMNS = (Run.id, Run.architecture, Run.macs, Run.config, Run.epochs, Run.epochs_done, Run.train_seconds,
           Run.progress)


def _load(row: Any, measured: Measured, running: bool) -> Load:
    config = row.config or {}
    key = key_of(row.architecture, row.macs, config)
    own = row.train_seconds / row.epochs_done if row.epochs_done and row.train_seconds else None
    part = 0.0
    progress = row.progress if running else None
    if progress and progress.get("batches") and progress.get("epoch") == row.epochs_done + 1:
        part = progress["batch"] / progress["batches"]
        if own is None and progress.get("images_per_s"):  # inside its first epoch: from its images/s
            own = progress["batches"] * key[2] / progress["images_per_s"] if key[2] else None
    epoch_s = epoch_seconds(own, key, row.macs, key[3], measured)
    spent = row.train_seconds + part * (epoch_s or 0.0)
    budget = float(config.get("time_budget_s") or 0.0)
    return Load(row.id, row.epochs - row.epochs_done - part, budget - spent, epoch_s)


def queue_places(session: Session) -> dict[int, QueuePlace]:
    """Every queued run's place, in four queries: the workers up, the queued runs, the running
    runs, and the recent runs that measure epoch times."""
    up = presence.workers_up(session)
    queued = session.execute(select(*COLUMNS).where(Run.status == RunStatus.QUEUED)
                             .order_by(Run.enqueued_at, Run.id).limit(MAX_QUEUED)).all()
    if not queued:
        return {}
    running = session.execute(select(*COLUMNS).where(Run.status == RunStatus.RUNNING)).all()
    recent = session.execute(select(Run.architecture, Run.macs, Run.config, Run.epochs_done, Run.train_seconds)
                             .where(Run.status.in_(FINISHED_STATUSES), Run.epochs_done > 0)
                             .order_by(Run.id.desc()).limit(HISTORY_RUNS)).all()
    measured = measure((key_of(r.architecture, r.macs, r.config or {}), r.epochs_done, r.train_seconds)
                       for r in [*recent, *running])
    places = estimate([_load(r, measured, False) for r in queued], [_load(r, measured, True) for r in running], up)
    return {run_id: QueuePlace(position=p.position, ahead=p.ahead, eta_start_s=_whole(p.eta_start_s),
                               eta_finish_s=_whole(p.eta_finish_s), workers_up=p.workers_up)
            for run_id, p in places.items()}


def _whole(seconds: float | None) -> float | None:
    """Whole seconds: a place re-read a moment later reads the same."""
    return None if seconds is None else float(round(seconds))


def with_queue(session: Session, runs: list[RunPublic],
               places: Callable[[Session], Mapping[int, QueuePlace]] = queue_places) -> list[RunPublic]:
    """The runs, each queued one with its place (read once for all of them, only when one is queued)."""
    if any(r.status == RunStatus.QUEUED for r in runs):
        found = places(session)
        for r in runs:
            r.queue = found.get(r.id) if r.status == RunStatus.QUEUED else None
    return runs


class Cached:
    """The places, read at most once per ``max_age_s`` in this process: for the event streams, which
    re-send a queued run's place as it moves (many open pages, one read)."""

    def __init__(self, read: Callable[[], dict[int, QueuePlace]], max_age_s: float = 2.0) -> None:
        self.read, self.max_age_s = read, max_age_s
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._value: dict[int, QueuePlace] = {}

    def get(self) -> dict[int, QueuePlace]:
        with self._lock:
            if time.monotonic() - self._at >= self.max_age_s:
                self._value = self.read()
                self._at = time.monotonic()
            return self._value


def read_places() -> dict[int, QueuePlace]:
    with SessionLocal() as session:
        return queue_places(session)


cached = Cached(read_places)
