"""What happens to runs: create, list, record epochs, claim, heartbeat, finish, cancel, delete.

Every state change is one guarded UPDATE (``WHERE status = ...``/``attempt = ...``), so two
backend processes, a late worker or a duplicate broker message can never double-start a run or
write into an attempt that has been superseded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Select, asc, delete, desc, func, select, update
from sqlalchemy.orm import Session

from backend.architecture import summarize
from backend.core.errors import Conflict, Invalid, QuotaExceeded
from backend.core.settings import settings
from backend.core.statuses import ACTIVE_STATUSES, FINISHED_STATUSES, RunStatus, SelectedOn
from backend.core.tables import (
    EpochMetric,
    Run,
    Search,
    Study,
    StudyLaunch,
    StudyLaunchRun,
    Sweep,
    User,
    utcnow,
)
from backend.identity.secrets import digest, new_secret, same
from backend.notifications.service import run_ended
from backend.runs import query as run_query
from backend.runs.analysis import best_epoch
from backend.runs.protocol import EpochIn
from backend.storage import service as storage
from backend.training.config import TrainConfig

SORTABLE = {
    "id", "name", "owner", "status", "architecture", "params", "macs", "created_at", "started_at",
    "finished_at", "epochs_done", "test_acc_at_best_val", "best_val_acc", "final_test_acc", "best_epoch",
    "last_train_acc", "last_test_acc", "last_train_loss", "last_test_loss", "train_seconds", "elapsed_s", "seed",
    "group_id",
}  # not best_test_acc: a maximum over epochs of test accuracy is never a ranking




def check_quotas(session: Session, owner: User, new_runs: int) -> None:
    """The lab's quotas (0: unlimited): runs one request may create, the user's storage, and queued +
    running runs per user. On PostgreSQL the owner's row is locked first, so two requests cannot both pass."""
    per_request = settings.MAX_RUNS_PER_REQUEST
    if per_request and new_runs > per_request:
        raise QuotaExceeded("runs_per_request", per_request, new_runs,
                            f"one request may create at most {per_request} runs (CNNLAB_MAX_RUNS_PER_REQUEST); "
                            f"this one would create {new_runs}")
    storage.check_quota(session, owner)  # its checkpoints and models (CNNLAB_STORAGE_QUOTA_BYTES or its own)
    per_user = settings.MAX_ACTIVE_RUNS_PER_USER
    if not per_user:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.id == owner.id).with_for_update())
    active = session.scalar(select(func.count()).select_from(Run).where(
        Run.owner_id == owner.id, Run.status.in_(ACTIVE_STATUSES))) or 0
    if active + new_runs > per_user:
        raise QuotaExceeded("active_runs_per_user", per_user, active,
                            f"{owner.username} has {active} queued or running runs; the quota is {per_user} "
                            f"(CNNLAB_MAX_ACTIVE_RUNS_PER_USER), so {new_runs} more would pass it")


_sqlite_admission = threading.Lock()


@contextlib.contextmanager
def admission(session: Session, owner: User, new_runs: int) -> Iterator[None]:
    """Check the quotas, then let the caller create and commit its runs, as one step: PostgreSQL
    locks the owner's row (check_quotas); on SQLite (one backend process) a lock in this process
    keeps two requests from both passing the count."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        _sqlite_admission.acquire()
    try:
        check_quotas(session, owner, new_runs)
        yield
    finally:
        if sqlite:
            _sqlite_admission.release()


def new_run(session: Session, config: TrainConfig, name: str | None, owner: User, sweep_id: int | None = None,
            group_id: int | None = None) -> Run:
    summary = summarize(config.architecture)
    run = Run(
        name=name or config.architecture.name,
        owner=owner,
        status=RunStatus.QUEUED,
        config=config.model_dump(mode="json"),
        architecture=config.architecture.name,
        params=summary.total_params,
        macs=summary.total_macs,
        seed=config.seed,
        epochs=config.epochs,
        sweep_id=sweep_id,
        group_id=group_id,
        holdout=config.data.holdout,
        selected_on=SelectedOn.VAL if config.data.holdout else SelectedOn.TEST,
        enqueued_at=utcnow(),
    )
    session.add(run)
    return run


def filtered_runs(status: str | None, owner: str | None, sweep_id: int | None, q: str | None,
                  group_id: int | None = None, viewer_id: int | None = None) -> Select[Run]:
    """The runs matching the list's filters and its query ``q`` (backend.runs.query: a plain word is the
    text search in the name, owner and architecture); ``viewer_id``: whose stars ``starred:`` reads."""
    stmt = select(Run).join(User, User.id == Run.owner_id)
    if group_id is not None:
        stmt = stmt.where(Run.group_id == group_id)
    if status:
        stmt = stmt.where(Run.status.in_(status.split(",")))
    if owner:
        stmt = stmt.where(User.username == owner.strip().lower())
    if sweep_id is not None:
        stmt = stmt.where(Run.sweep_id == sweep_id)
    where = run_query.condition(q, viewer_id)
    if where is not None:
        stmt = stmt.where(where)
    return stmt


BEST_TEST_SORT = ("best_test_acc is a maximum over epochs of test accuracy, chosen on the test set: never a ranking; "
                  "sort by test_acc_at_best_val (the epoch chosen on validation) or best_val_acc")


def sort_column(sort: str, field: str = "sort") -> Any:
    """The ORDER BY expression of a sort key: a summary column, or a run option's dotted path (a
    saved view's sort is checked by the same rule)."""
    key = sort[1:] if sort.startswith("-") else sort
    if key == "best_test_acc":
        raise Invalid(field, BEST_TEST_SORT)
    if key == "owner":
        return User.username
    if key in SORTABLE:
        return getattr(Run, key)
    option = run_query.option_sort(key)
    if option is None:
        raise Invalid(field, f"{key[:60]!r} is not a sort key: one of {', '.join(sorted(SORTABLE))} or a run "
                             "option's dotted path (lr, augment.cutout, …), with an optional '-'")
    return option


def list_runs(session: Session, *, status: str | None = None, owner: str | None = None, sweep_id: int | None = None,
              q: str | None = None, sort: str = "-created_at", limit: int = 50,
              offset: int = 0, group_id: int | None = None, viewer_id: int | None = None) -> tuple[Sequence[Run], int]:
    stmt = filtered_runs(status, owner, sweep_id, q, group_id, viewer_id)
    column = sort_column(sort)
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order = desc(column) if sort.startswith("-") else asc(column)
    tiebreak = desc(Run.id) if sort.startswith("-") else asc(Run.id)
    # runs without the value last; a column that is never null (created_at, params…) says no NULLS LAST,
    # so PostgreSQL reads its index backwards instead of sorting every run (100,000 runs: ~100 ms → a few)
    nullable = getattr(getattr(column, "expression", column), "nullable", True)
    rows = session.scalars(stmt.order_by(order.nulls_last() if nullable else order, tiebreak)
                           .limit(limit).offset(offset)).all()
    return rows, count


def origins_of(session: Session, runs: Sequence[Run]) -> dict[int, tuple[str, int, str]]:
    """What made each of these runs: (kind, id, name) of its search, else its sweep, else the first
    study whose launch holds it; runs made alone are left out. Three indexed queries at most."""
    out: dict[int, tuple[str, int, str]] = {}
    searches = {r.search_id for r in runs if r.search_id is not None}
    sweeps = {r.sweep_id for r in runs if r.sweep_id is not None}
    names: dict[tuple[str, int], str] = {}
    if searches:
        names |= {("search", i): n for i, n in session.execute(select(Search.id, Search.name)
                                                               .where(Search.id.in_(searches)))}
    if sweeps:
        names |= {("sweep", i): n for i, n in session.execute(select(Sweep.id, Sweep.name).where(Sweep.id.in_(sweeps)))}
    alone = [r.id for r in runs if r.search_id is None and r.sweep_id is None]
    studies: dict[int, tuple[int, str]] = {}
    if alone:
        rows = session.execute(
            select(StudyLaunchRun.run_id, Study.id, Study.name)
            .join(StudyLaunch, StudyLaunch.id == StudyLaunchRun.launch_id).join(Study, Study.id == StudyLaunch.study_id)
            .where(StudyLaunchRun.run_id.in_(alone)).order_by(Study.id.desc()))
        studies = {cast(int, run_id): (study_id, name) for run_id, study_id, name in rows}  # the lowest id stays
    for r in runs:
        if r.search_id is not None and ("search", r.search_id) in names:
            out[r.id] = ("search", r.search_id, names[("search", r.search_id)])
        elif r.sweep_id is not None and ("sweep", r.sweep_id) in names:
            out[r.id] = ("sweep", r.sweep_id, names[("sweep", r.sweep_id)])
        elif r.id in studies:
            out[r.id] = ("study", *studies[r.id])
    return out


SERIES_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "val_loss", "val_acc",
                  "fraction")


def series_of(session: Session, run_ids: list[int]) -> dict[int, dict[str, list[Any]]]:
    """Columnar metric series of many runs in one indexed query; a run without epochs maps to
    empty lists."""
    out: dict[int, dict[str, list[Any]]] = {i: {c: [] for c in SERIES_COLUMNS} for i in run_ids}
    if not run_ids:
        return out
    columns = [getattr(EpochMetric, c) for c in SERIES_COLUMNS]
    rows = session.execute(select(EpochMetric.run_id, *columns).where(EpochMetric.run_id.in_(run_ids))
                           .order_by(EpochMetric.run_id, EpochMetric.epoch))
    for row in rows:
        target = out[row[0]]
        for name, value in zip(SERIES_COLUMNS, row[1:], strict=True):
            target[name].append(value)
    return out


def metrics_of(session: Session, run_id: int, since_epoch: int = 0) -> Sequence[EpochMetric]:
    return session.scalars(
        select(EpochMetric).where(EpochMetric.run_id == run_id, EpochMetric.epoch > since_epoch)
        .order_by(EpochMetric.epoch)
    ).all()


def holds_lease(run: Run, lease: str | None) -> bool:
    if not lease:
        return False
    return run.status == RunStatus.RUNNING and run.lease_hash is not None and same(digest(lease), run.lease_hash)


def not_held(run_id: int) -> Conflict:
    return Conflict(f"this lease does not hold run {run_id} (wrong, or superseded by a newer attempt)")


def ensure_current(run: Run, lease: str | None) -> None:
    """Only the attempt that holds a running run's lease may write to it (a first check, before
    any work; every write then takes the run with guarded_update)."""
    if not holds_lease(run, lease):
        raise not_held(run.id)


def _matched(result: Result[Any]) -> int:
    """Rows an UPDATE matched: ``Session.execute`` hands back a ``CursorResult``, typed as a plain ``Result``."""
    return cast("CursorResult[Any]", result).rowcount


def guarded_update(session: Session, run_id: int, lease: str | None, **values: object) -> None:
    """A write of the attempt holding ``lease``: one UPDATE guarded on (run, lease, status
    running) with a row-count check. On PostgreSQL it also locks the run's row until the commit,
    so a requeue that lands meanwhile waits, then finds the heartbeat moved and leaves the run be;
    a requeue that landed before makes this UPDATE match nothing. Either way a superseded attempt
    can never overwrite the new one. With no ``values`` it moves the heartbeat."""
    result = session.execute(
        update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING, Run.lease_hash == digest(lease or ""))
        .values(**(values or {"heartbeat_at": utcnow()})).execution_options(synchronize_session=False)
    )
    if _matched(result) != 1:
        session.rollback()
        raise not_held(run_id)


def check_epoch(run: Run, epoch: int, field: str) -> None:
    """An epoch a worker reports (a metric, a checkpoint, a model) is one of 1..the run's planned epochs."""
    if epoch < 1:
        raise Invalid(field, f"{epoch} is not an epoch: epochs count from 1")
    if epoch > run.epochs:
        raise Invalid(field, f"{epoch} is over the run's {run.epochs} planned epochs")


def record_epochs(session: Session, run: Run, lease: str | None, metrics: Sequence[EpochIn]) -> None:
    """Upsert epochs (a resumed attempt may re-send one) and refresh the run's summary columns. A run
    that holds out validation images reports val_acc and val_loss with every epoch; one that does
    not, none."""
    validated, each_epoch = run.selected_on == SelectedOn.VAL, reads_test_each_epoch(run)
    for i, m in enumerate(metrics):
        check_epoch(run, m.epoch, f"metrics[{i}].epoch")
        if validated and (m.val_acc is None or m.val_loss is None):
            raise Invalid(f"metrics[{i}].val_acc", f"run {run.id} holds out {run.holdout} validation images: "
                                                    "every epoch reports val_acc and val_loss")
        if not validated and (m.val_acc is not None or m.val_loss is not None):
            raise Invalid(f"metrics[{i}].val_acc", f"run {run.id} holds out no validation images: no val_acc")
        if each_epoch and (m.test_acc is None or m.test_loss is None):
            raise Invalid(f"metrics[{i}].test_acc", f"run {run.id} reads the test set every epoch: "
                                                     "every epoch reports test_acc and test_loss")
        if not each_epoch and (m.test_acc is not None or m.test_loss is not None):
            raise Invalid(f"metrics[{i}].test_acc", f"run {run.id} reads the test set once, at its end "
                                                     "(test_each_epoch off): its epochs report no test figure")
    guarded_update(session, run.id, lease)
    existing = {m.epoch: m for m in metrics_of(session, run.id, min(m.epoch for m in metrics) - 1)} if metrics else {}
    for m in metrics:
        row = existing.get(m.epoch)
        if row is None:
            session.add(EpochMetric(run_id=run.id, **m.model_dump()))
        else:
            for key, value in m.model_dump().items():
                setattr(row, key, value)
    session.flush()
    refresh_summary(session, run)


def reads_test_each_epoch(run: Run) -> bool:
    """Whether the run's epochs carry a test figure: all do but those of a config with ``test_each_epoch``
    off (a search's trials), whose test set is read once, at the end, by the class report."""
    return bool((run.config or {}).get("test_each_epoch", TrainConfig.model_fields["test_each_epoch"].default))


def choice_score(run: Run, m: EpochMetric | EpochIn) -> float:
    """What chooses among a run's epochs: its validation accuracy, or its test accuracy without a holdout
    (record_epochs makes sure the epoch carries the one its run chooses on)."""
    score = m.val_acc if run.selected_on == SelectedOn.VAL and m.val_acc is not None else m.test_acc
    if score is None:
        raise Invalid("metrics", f"run {run.id}: epoch {m.epoch} carries neither val_acc nor test_acc")
    return score


def refresh_summary(session: Session, run: Run) -> None:
    """Summary columns from the series: reads the indexed rows of one run only. A run reading the test set
    only at its end gets its headline from its class report (record_evaluation), not from here."""
    series = metrics_of(session, run.id)
    if not series:
        return
    scores = [choice_score(run, m) for m in series]
    epoch_of_best = best_epoch([m.epoch for m in series], scores)  # the trainer's choice: the first best
    best = next(m for m in series if m.epoch == epoch_of_best)
    last = series[-1]
    run.epochs_done = last.epoch
    moved = run.best_epoch != best.epoch
    run.best_epoch, run.best_val_acc = best.epoch, best.val_acc
    if best.test_acc is not None or moved:  # an end-only run's headline stays with the epoch it describes
        run.test_acc_at_best_val = best.test_acc
    run.best_test_acc = max((m.test_acc for m in series if m.test_acc is not None), default=None)
    run.final_test_acc = last.test_acc
    run.last_train_loss, run.last_train_acc = last.train_loss, last.train_acc
    run.last_test_loss, run.last_test_acc, run.last_lr = last.test_loss, last.test_acc, last.lr
    run.train_seconds = sum(m.seconds for m in series)


def record_end_test(run: Run, epoch: int, accuracy: float) -> None:
    """A run reading the test set only at its end: the class report of its chosen epoch's weights is its
    test accuracy. Another epoch's report (the chosen one moved since) leaves the headline empty."""
    if not reads_test_each_epoch(run) and epoch == run.best_epoch:
        run.test_acc_at_best_val = accuracy


def claim(session: Session, run_id: int, host: str, device: str) -> tuple[Run, str] | None:
    """queued → running, atomically, with a new random lease (returned once; only its digest is
    kept); None when the run is not queued (cancelled, taken, gone)."""
    now = utcnow()
    lease = new_secret()
    result = session.execute(
        update(Run).where(Run.id == run_id, Run.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, attempt=Run.attempt + 1, started_at=func.coalesce(Run.started_at, now),
                heartbeat_at=now, worker_host=host, device=device, lease_hash=digest(lease))
    )
    session.commit()
    if _matched(result) != 1:
        return None
    run = session.get_one(Run, run_id)  # the UPDATE above just matched it
    session.refresh(run)
    return run, lease


def heartbeat(session: Session, run: Run, lease: str | None, progress: dict[str, Any] | None = None,
              also: Callable[[], None] | None = None) -> bool:
    """The heartbeat, and the place inside its epoch when given, in one guarded UPDATE; ``also``
    (the system metrics it carries) is written in the same transaction, under the lease."""
    values: dict[str, object] = {"heartbeat_at": utcnow(), **({"progress": progress} if progress is not None else {})}
    try:
        guarded_update(session, run.id, lease, **values)
    except Conflict:
        return False
    if also is not None:
        also()
    session.commit()
    return True


def finish(
    session: Session, run: Run, lease: str | None, status: str, reason: str | None, elapsed_s: float | None
) -> None:
    """running → a final status, for the attempt holding the lease only (one guarded UPDATE)."""
    values: dict[str, object] = {
        "status": status, "reason": reason, "finished_at": utcnow(), "lease_hash": None, "progress": None,
    }
    if elapsed_s is not None:
        values["elapsed_s"] = elapsed_s
    guarded_update(session, run.id, lease, **values)
    run_ended(session, run.id, status)
    session.commit()
    session.refresh(run)


def cancel(session: Session, run: Run, by: User) -> None:
    if run.status in FINISHED_STATUSES:
        raise Conflict(f"run {run.id} has already finished ({run.status}); nothing to cancel")
    if run.status == RunStatus.QUEUED:
        result = session.execute(
            update(Run).where(Run.id == run.id, Run.status == RunStatus.QUEUED)
            .values(status=RunStatus.CANCELLED, reason=f"cancelled by {by.username} before it started",
                    finished_at=utcnow(), cancelled_by_id=by.id)
        )
        if _matched(result) == 1:
            run_ended(session, run.id, RunStatus.CANCELLED)
            session.commit()
            session.refresh(run)
            return
        session.refresh(run)  # it started meanwhile: ask the worker to stop
    run.cancel_requested = True
    run.cancelled_by_id = by.id
    session.commit()
    session.refresh(run)


def delete_run(session: Session, run: Run) -> None:
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise Conflict(f"run {run.id} is {run.status}; cancel it before deleting it")
    session.execute(delete(EpochMetric).where(EpochMetric.run_id == run.id))
    session.delete(run)
    session.commit()


def lost_runs(session: Session, timeout_s: float, now: datetime | None = None) -> Sequence[Run]:
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_s)
    return session.scalars(select(Run).where(Run.status == RunStatus.RUNNING, Run.heartbeat_at < cutoff)).all()


def requeue_lost(session: Session, run: Run, max_attempts: int) -> bool:
    """A run whose worker went silent: cancelled if that was asked, failed after too many
    attempts, else queued again to resume from its last checkpoint. True when it must be sent."""
    stale = run.heartbeat_at
    values: dict[str, object]
    if run.cancel_requested:
        values = {"status": RunStatus.CANCELLED, "reason": "cancelled (its worker stopped answering)",
                  "finished_at": utcnow(), "lease_hash": None}
    elif run.prune_requested:
        values = {"status": RunStatus.PRUNED, "reason": f"pruned by its search after epoch {run.epochs_done} "
                  "(its worker stopped answering)", "finished_at": utcnow(), "lease_hash": None}
    elif run.attempt >= max_attempts:
        values = {"status": RunStatus.FAILED, "reason": f"its worker was lost {run.attempt} times",
                  "finished_at": utcnow(), "lease_hash": None}
    else:
        values = {"status": RunStatus.QUEUED, "enqueued_at": utcnow(), "lease_hash": None, "progress": None,
                  "reason": f"worker {run.worker_host} lost after epoch {run.epochs_done}; "
                  "resuming from its last checkpoint"}
    result = session.execute(
        update(Run).where(Run.id == run.id, Run.status == RunStatus.RUNNING, Run.attempt == run.attempt,
                          Run.heartbeat_at == stale).values(**values)
    )
    matched = _matched(result) == 1
    if matched and values["status"] != RunStatus.QUEUED:
        run_ended(session, run.id, str(values["status"]))
    session.commit()
    return matched and values["status"] == RunStatus.QUEUED


def waiting_runs(session: Session, grace_s: float) -> Sequence[int]:
    cutoff = utcnow() - timedelta(seconds=grace_s)
    return session.scalars(
        select(Run.id).where(Run.status == RunStatus.QUEUED, Run.enqueued_at < cutoff).order_by(Run.id)
    ).all()
