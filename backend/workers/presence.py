"""Which workers are up, and what each trains: the ``workers`` table (WorkerPresence).

A worker process says it is up when it starts and every CNNLAB_WORKER_PRESENCE_S while it idles
or trains (worker.presence; POST /api/worker/presence). Claiming a run records the run on its
worker's row, finishing it clears it. A worker not seen for ``DOWN_AFTER`` intervals is down;
rows down for ``PRUNE_AFTER_S`` are removed when another worker says it is up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.fields import UTCDateTime
from backend.core.settings import settings
from backend.core.statuses import RunStatus
from backend.core.tables import Run, WorkerPresence, utcnow

log = logging.getLogger("cnnlab.workers")

DOWN_AFTER = 3  # presence intervals without a word: the worker is down
PRUNE_AFTER_S = 86_400.0  # a worker down this long is forgotten

Label = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]  # printable: shown on pages


class PresenceReport(BaseModel):
    """What a worker says when it says it is up."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[Label, Field(max_length=200, description="the worker's own name: its Celery hostname "
                                                             "(slot@host), or host:device:pid")]
    host: Annotated[Label, Field(max_length=200)]
    device: Annotated[Label, Field(max_length=64, description="'cpu' or 'cuda:INDEX (GPU name)'")]
    first: bool = Field(False, description="the process's first word since it started: up since now")


class WorkerRun(BaseModel):
    """The run a worker trains."""

    id: int
    name: str
    epochs_done: int
    epochs: int
    since: UTCDateTime | None = Field(description="when this worker claimed it")
    epoch_s: float | None = Field(description="its measured mean seconds per epoch (None before its first epoch)")


class WorkerPublic(BaseModel):
    name: str
    host: str
    device: str
    up: bool = Field(description=f"seen within the last {DOWN_AFTER} presence intervals (CNNLAB_WORKER_PRESENCE_S)")
    started_at: UTCDateTime
    last_seen_at: UTCDateTime
    run: WorkerRun | None = Field(description="what it trains now (None: idle, or down)")


class WorkersPublic(BaseModel):
    data: list[WorkerPublic]
    count: int
    up: int = Field(description="workers up")
    presence_interval_s: float = Field(description="how often a worker says it is up")


def up_since(now: datetime | None = None) -> datetime:
    """A worker seen at or after this is up."""
    return (now or utcnow()) - timedelta(seconds=DOWN_AFTER * settings.WORKER_PRESENCE_S)


def workers_up(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(WorkerPresence)
                          .where(WorkerPresence.last_seen_at >= up_since())) or 0


def _upsert(session: Session, body: PresenceReport, **changes: object) -> None:
    """Insert the worker's row, or change it with ``changes``, in one statement (a beat and a claim
    of one worker never race to insert it); a new row takes the plain values of ``changes``."""
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    fresh = {k: v for k, v in changes.items() if k in ("run_id", "run_since")}
    stmt = insert(WorkerPresence).values(name=body.name, host=body.host, device=body.device, started_at=now,
                                         last_seen_at=now, **fresh)
    session.execute(stmt.on_conflict_do_update(index_elements=[WorkerPresence.name], set_={
        "host": body.host, "device": body.device, "last_seen_at": now, **changes}))


def report(session: Session, body: PresenceReport) -> None:
    """The worker is up. Its first word (a new process under the name of an earlier one) or a word
    after it was down starts it anew: up since now. (The run an earlier process left is not cleared
    here, where it could race with this one's first claim: the list shows a run only while it runs,
    and the reaper requeues a run whose worker died.) Forgets workers down for a day."""
    now = utcnow()
    if body.first:
        _upsert(session, body, started_at=now)
    else:
        _upsert(session, body, started_at=case((WorkerPresence.last_seen_at < up_since(now), now),
                                               else_=WorkerPresence.started_at))
    session.execute(delete(WorkerPresence).where(WorkerPresence.last_seen_at < now - timedelta(seconds=PRUNE_AFTER_S)))
    session.commit()


def claimed(session: Session, name: str, host: str, device: str, run_id: int) -> None:
    """The worker ``name`` claimed ``run_id``: its row says so (made if the worker has not said it is
    up yet); no other row keeps the run (an earlier attempt's worker, lost)."""
    session.execute(update(WorkerPresence).where(WorkerPresence.run_id == run_id, WorkerPresence.name != name)
                    .values(run_id=None, run_since=None))
    _upsert(session, PresenceReport.model_construct(name=name, host=host, device=device, first=False),
            run_id=run_id, run_since=utcnow())
    session.commit()


def finished(session: Session, run_id: int) -> None:
    """The run ended: no worker trains it any more."""
    session.execute(update(WorkerPresence).where(WorkerPresence.run_id == run_id).values(run_id=None, run_since=None))
    session.commit()


def list_workers(session: Session) -> WorkersPublic:
    """Every worker known (up first, then by name), each with the run it trains while that run is
    running, in one query."""
    cutoff = up_since()
    rows = session.execute(select(WorkerPresence, Run).outerjoin(Run, (Run.id == WorkerPresence.run_id)
                                                                 & (Run.status == RunStatus.RUNNING))
                           .order_by(WorkerPresence.name)).all()
    data = []
    for worker, run in rows:
        up = _aware(worker.last_seen_at) >= cutoff
        trains = None
        if run is not None and up:
            trains = WorkerRun(id=run.id, name=run.name, epochs_done=run.epochs_done, epochs=run.epochs,
                               since=worker.run_since,
                               epoch_s=run.train_seconds / run.epochs_done if run.epochs_done else None)
        data.append(WorkerPublic(name=worker.name, host=worker.host, device=worker.device, up=up,
                                 started_at=worker.started_at, last_seen_at=worker.last_seen_at, run=trains))
    data.sort(key=lambda w: not w.up)  # stable: by name within each
    return WorkersPublic(data=data, count=len(data), up=sum(w.up for w in data),
                         presence_interval_s=settings.WORKER_PRESENCE_S)


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def record_claim(session: Session, name: str, host: str, device: str, run_id: int) -> None:
    """``claimed``, never failing the claim it follows (the run is claimed already: a refused claim
    would leave its worker skipping a run nobody trains)."""
    try:
        claimed(session, name, host, device, run_id)
    except SQLAlchemyError:
        session.rollback()
        log.exception("worker %s: its claim of run %s is not shown on its row", name, run_id)


def record_finish(session: Session, run_id: int) -> None:
    """``finished``, never failing the finish it follows."""
    try:
        finished(session, run_id)
    except SQLAlchemyError:
        session.rollback()
        log.exception("run %s: its worker's row still names it", run_id)
