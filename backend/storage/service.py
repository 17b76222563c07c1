"""Artefacts on disk: the runs' checkpoints and models under CNNLAB_CHECKPOINT_DIR, one folder a run
(``run_{id}/best.pt``, ``last.pt``, ``model.onnx``), what they weigh, a per-user quota on them, and
the one garbage collector that keeps them from filling the disk.

Rows first, files second: a run deleted (or trimmed by the retention) loses its rows in one commit,
then its files. A crash between the two leaves files that no row names; the collector's sweep
removes them once they are an hour old (``ORPHAN_AGE_S``: an upload in flight is younger, and its
row follows it).

The collector (``collect``) applies the retention (CNNLAB_RETENTION_DAYS, CNNLAB_RETENTION_KEEP) to
finished runs — never an active run, never one whose model is being exported — then sweeps the
orphans. It runs at each backend's start and every CNNLAB_GC_INTERVAL_S (``collect_forever``), on
an admin's demand (POST /api/storage/gc) and from the command line (``python -m backend.cli.storage
gc``); one at a time across processes (an advisory lock on PostgreSQL, a thread lock on SQLite's
one process). Sizes are read from the rows' ``size_bytes``, never by walking the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Exists, Select, exists, func, select, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.core.db import SessionLocal, engine
from backend.core.errors import QuotaExceeded
from backend.core.fields import as_utc
from backend.core.settings import settings
from backend.core.statuses import ACTIVE_STATUSES, FINISHED_STATUSES, ModelStatus, RetentionKeep
from backend.core.tables import AuditEvent, Checkpoint, Run, RunModel, User, utcnow
from backend.identity.service import record

log = logging.getLogger("cnnlab.storage")

ORPHAN_AGE_S = 3600.0  # a file no row names is removed once it is this old (an upload in flight is younger)
RETENTION_ACTION = "storage.retention"  # the audit record of checkpoints the retention removed
RUN_FOLDER = re.compile(r"run_(\d+)")
GC_LOCK_KEY = 0x636E6E47  # 'cnnG': the collector's advisory lock (searches use 'cnn\0' + their id)
_gc_lock = threading.Lock()


# --- sizes and the quota ------------------------------------------------------------------------------

def human_bytes(n: int) -> str:
    """Bytes as people read them: 1.2 GB, 830.0 kB, 12 B (powers of 1000, as disks are sold)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        size /= 1000
        if size < 1000 or unit == "PB":
            break
    return f"{size:.1f} {unit}"


def _checkpoint_bytes() -> Select[int, int]:
    return select(Checkpoint.run_id.label("run_id"), func.sum(Checkpoint.size_bytes).label("bytes")).group_by(
        Checkpoint.run_id)


def _model_bytes() -> Select[int, int | None]:
    # a model counts while a row names its file: an export asked again (path None) holds nothing yet
    return select(RunModel.run_id.label("run_id"), RunModel.size_bytes.label("bytes")).where(
        RunModel.path.is_not(None))


def user_bytes(session: Session, user_id: int) -> tuple[int, int]:
    """(checkpoint bytes, model bytes) of the user's runs."""
    ckpt = session.scalar(select(func.coalesce(func.sum(Checkpoint.size_bytes), 0))
                          .join(Run, Run.id == Checkpoint.run_id).where(Run.owner_id == user_id)) or 0
    model = session.scalar(select(func.coalesce(func.sum(RunModel.size_bytes), 0))
                           .join(Run, Run.id == RunModel.run_id)
                           .where(Run.owner_id == user_id, RunModel.path.is_not(None))) or 0
    return int(ckpt), int(model)


def runs_holding(session: Session, user_id: int) -> int:
    """How many of the user's runs hold a checkpoint or a model."""
    per_run = _checkpoint_bytes().union_all(_model_bytes()).subquery()
    return session.scalar(select(func.count(func.distinct(per_run.c.run_id))).select_from(per_run)
                          .join(Run, Run.id == per_run.c.run_id).where(Run.owner_id == user_id)) or 0


@dataclass(frozen=True)
class RunBytes:
    id: int
    name: str
    status: str
    finished_at: datetime | None
    checkpoint_bytes: int
    model_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.checkpoint_bytes + self.model_bytes


def largest_runs(session: Session, user_id: int, limit: int) -> list[RunBytes]:
    """The user's runs that hold artefacts, largest first."""
    ck, md = _checkpoint_bytes().subquery(), _model_bytes().subquery()
    ck_bytes, md_bytes = func.coalesce(ck.c.bytes, 0), func.coalesce(md.c.bytes, 0)
    rows = session.execute(
        select(Run.id, Run.name, Run.status, Run.finished_at, ck_bytes, md_bytes)
        .outerjoin(ck, ck.c.run_id == Run.id).outerjoin(md, md.c.run_id == Run.id)
        .where(Run.owner_id == user_id, (ck.c.bytes.is_not(None)) | (md.c.bytes.is_not(None)))
        .order_by((ck_bytes + md_bytes).desc(), Run.id.desc()).limit(limit)).all()
    return [RunBytes(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]


@dataclass(frozen=True)
class UserBytes:
    username: str
    runs: int  # runs holding artefacts
    total_bytes: int
    quota_bytes: int | None


def every_user(session: Session) -> list[UserBytes]:
    """Each user holding artefacts, most first (what an admin sees)."""
    per_run = _checkpoint_bytes().union_all(_model_bytes()).subquery()
    rows = session.execute(
        select(User, func.count(func.distinct(per_run.c.run_id)), func.sum(per_run.c.bytes))
        .join(Run, Run.owner_id == User.id).join(per_run, per_run.c.run_id == Run.id)
        .group_by(User.id).order_by(func.sum(per_run.c.bytes).desc(), User.username)).all()
    return [UserBytes(u.username, int(n), int(b or 0), quota_of(u)[0]) for u, n, b in rows]


def lab_bytes(session: Session) -> int:
    ckpt = session.scalar(select(func.coalesce(func.sum(Checkpoint.size_bytes), 0))) or 0
    model = session.scalar(select(func.coalesce(func.sum(RunModel.size_bytes), 0))
                           .where(RunModel.path.is_not(None))) or 0
    return int(ckpt) + int(model)


def disk() -> tuple[int, int]:
    """(total, free) bytes of the disk holding the artefacts (its folder made if missing)."""
    folder = Path(settings.CHECKPOINT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(folder)
    return usage.total, usage.free


def quota_of(user: User) -> tuple[int | None, str]:
    """The user's storage quota (None: none) and where it comes from, in words."""
    if user.storage_quota_bytes is not None:
        return user.storage_quota_bytes, f"{user.username}'s own, set by an admin"
    return settings.STORAGE_QUOTA_BYTES, "CNNLAB_STORAGE_QUOTA_BYTES"


def check_quota(session: Session, owner: User) -> None:
    """A new run is refused (429, ``quota.storage_bytes_per_user``) once the owner's checkpoints and
    models reach their quota: a run adds files, and only deleting runs frees room."""
    limit, source = quota_of(owner)
    if limit is None:
        return
    used = sum(user_bytes(session, owner.id))
    if used >= limit:
        raise QuotaExceeded("storage_bytes_per_user", limit, used,
                            f"storage quota: {human_bytes(used)} used of {human_bytes(limit)} ({source}); "
                            "delete runs or ask an admin")


# --- a run's files -----------------------------------------------------------------------------------

def run_folder(run_id: int) -> Path:
    return Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"


def run_files(session: Session, run: Run) -> list[Path]:
    """The files the run's rows name (its checkpoints and model): read before the rows go."""
    model = session.get(RunModel, run.id)
    return [Path(c.path) for c in run.checkpoints] + ([Path(model.path)] if model and model.path else [])


def remove_run_files(run_id: int, named: Iterable[Path]) -> int:
    """A deleted run's files, once its rows are gone: those its rows named, and its folder with
    whatever else it held (a stale temporary). Bytes freed. A run folder that is a symbolic link is
    never followed: the link goes, what it points to stays (nothing outside the artefact folder is
    the lab's to remove), and so do named files reached through it."""
    folder = run_folder(run_id)
    artefacts = os.path.realpath(settings.CHECKPOINT_DIR)
    paths = [p for p in named if os.path.commonpath([artefacts, os.path.realpath(p)]) == artefacts]
    if folder.is_symlink():
        log.warning("run %d: its folder %s is a symbolic link: the link is removed, not what it points to",
                    run_id, folder)
        _unlink(folder)
        return sum(_unlink(p) or 0 for p in paths)
    if folder.is_dir():
        paths += [Path(root) / f for root, _dirs, files in os.walk(folder) for f in files]
    freed = sum(_unlink(p) or 0 for p in paths)
    shutil.rmtree(folder, ignore_errors=True)
    return freed


def _file_key(path: str | Path) -> tuple[str, str]:
    """A stored file by its run folder and its name (``run_7``, ``best.pt``): the same file whichever
    spelling of CNNLAB_CHECKPOINT_DIR wrote its row (relative or absolute, a symlinked mount)."""
    p = Path(path)
    return p.parent.name, p.name


def _unlink(path: Path) -> int | None:
    """Remove a file: its size, or None when it was not there or could not be removed."""
    try:
        size = path.lstat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a file another process holds, a read-only disk: said, then left for the next pass
        log.warning("could not remove %s: %s", path, exc)
        return None
    return size


def checkpoints_removed(session: Session, run_id: int) -> str | None:
    """The run's page says why it has no checkpoint any more: the retention's record, in words."""
    at = session.scalar(select(AuditEvent.at).where(AuditEvent.target_type == "run", AuditEvent.target_id == run_id,
                                                    AuditEvent.action == RETENTION_ACTION)
                        .order_by(AuditEvent.id.desc()).limit(1))
    if at is None:
        return None
    return f"Its checkpoints were removed by the lab's retention on {as_utc(at):%Y-%m-%d} (its model is kept)."


# --- the collector -----------------------------------------------------------------------------------

@dataclass
class Removed:
    """What one collection removed: runs whose checkpoints the retention dropped, and files."""

    trimmed_runs: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    skipped: bool = False  # another process was collecting: nothing was done

    def add(self, path: Path, size: int) -> None:
        self.files.append(str(path))
        self.bytes += size


@contextlib.contextmanager
def _one_at_a_time(wait: bool) -> Iterator[bool]:
    """True when this call may collect: across threads here, across processes on PostgreSQL."""
    if not _gc_lock.acquire(blocking=wait):
        yield False
        return
    try:
        if engine.dialect.name != "postgresql":
            yield True
            return
        with engine.connect() as conn:
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": GC_LOCK_KEY})
            elif not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": GC_LOCK_KEY}):
                yield False
                return
            try:
                yield True
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": GC_LOCK_KEY})
                conn.commit()
    finally:
        _gc_lock.release()


def collect(wait: bool = True, now: datetime | None = None) -> Removed:
    """Apply the retention, then sweep the orphans. ``wait``: for another process's collection to
    end (else skip it: the periodic pass)."""
    removed = Removed()
    with _one_at_a_time(wait) as mine:
        if not mine:
            removed.skipped = True
            return removed
        now = now or utcnow()
        if settings.RETENTION_DAYS is not None:
            apply_retention(now - timedelta(days=settings.RETENTION_DAYS), RetentionKeep(settings.RETENTION_KEEP),
                            removed)
        sweep_orphans(removed)
    if removed.files:
        log.info("storage: removed %d files (%s)%s", len(removed.files), human_bytes(removed.bytes),
                 f"; checkpoints of runs {removed.trimmed_runs} dropped by the retention" if removed.trimmed_runs
                 else "")
    return removed


def _exporting() -> Exists:
    return exists().where(RunModel.run_id == Run.id, RunModel.status == ModelStatus.EXPORTING)


def retained_runs(session: Session, cutoff: datetime) -> Sequence[int]:
    """Finished before ``cutoff``, still holding checkpoints, no model being exported."""
    return session.scalars(
        select(Run.id).where(Run.status.in_(FINISHED_STATUSES), Run.finished_at < cutoff, ~_exporting(),
                             exists().where(Checkpoint.run_id == Run.id)).order_by(Run.id)).all()


def apply_retention(cutoff: datetime, keep: RetentionKeep, removed: Removed) -> None:
    """``model``: the checkpoints of runs finished before ``cutoff`` go (rows, then files), their
    model stays. ``best_last``: the checkpoints and the model stay, and what else a run's folder
    holds (a stale temporary) is what the orphan sweep removes from every folder."""
    if keep != RetentionKeep.MODEL:
        return
    with SessionLocal() as session:
        candidates = retained_runs(session, cutoff)
    for run_id in candidates:
        with SessionLocal() as session:
            paths = _drop_checkpoints(session, run_id, cutoff)
        if paths is None:
            continue
        removed.trimmed_runs.append(run_id)
        for path in paths:
            size = _unlink(path)
            if size is not None:
                removed.add(path, size)
        with contextlib.suppress(OSError):  # a run left with nothing (no model): its folder goes too
            run_folder(run_id).rmdir()


def _drop_checkpoints(session: Session, run_id: int, cutoff: datetime) -> list[Path] | None:
    """The run's checkpoint rows deleted (and the deletion recorded) if it still qualifies — checked
    again under the run's row lock, so an export asked meanwhile keeps them. Their files, or None."""
    query = select(Run).where(Run.id == run_id, Run.status.in_(FINISHED_STATUSES), Run.finished_at < cutoff,
                              ~_exporting())
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Run)
    run = session.scalars(query).first()
    if run is None or not run.checkpoints:
        return None
    paths = [Path(c.path) for c in run.checkpoints]
    kinds = ", ".join(sorted(c.kind for c in run.checkpoints))
    run.checkpoints.clear()  # delete-orphan: the rows go with this commit
    record(session, None, RETENTION_ACTION, "run", run_id,
           f"checkpoints ({kinds}) of run {run_id} ({run.name}) removed by the lab's retention "
           f"(CNNLAB_RETENTION_DAYS={settings.RETENTION_DAYS:g}, CNNLAB_RETENTION_KEEP={RetentionKeep.MODEL})")
    session.commit()
    return paths


def sweep_orphans(removed: Removed, age_s: float = ORPHAN_AGE_S) -> None:
    """Every file in a run's folder that no row names and that is older than ``age_s`` goes (a crash
    between a delete's commit and its files, an upload cut short); a folder left empty goes with
    them when it was old too. Only ``run_<id>`` folders are looked in (nothing else under the
    folder is the lab's to remove), and never an active run's or one whose model is being exported."""
    root = Path(settings.CHECKPOINT_DIR)
    if not root.is_dir():
        return
    with SessionLocal() as session:  # read before the files: a row written after is for a younger file
        named = {_file_key(p) for p in session.scalars(select(Checkpoint.path))}
        named |= {_file_key(p) for p in session.scalars(select(RunModel.path)) if p is not None}
        busy = {f"run_{i}" for i in session.scalars(select(Run.id).where(Run.status.in_(ACTIVE_STATUSES)))}
        busy |= {f"run_{i}" for i in session.scalars(select(RunModel.run_id).where(
            RunModel.status == ModelStatus.EXPORTING))}
    cutoff = time.time() - age_s
    with os.scandir(root) as entries:
        folders = [Path(e.path) for e in entries if RUN_FOLDER.fullmatch(e.name) and e.name not in busy
                   and e.is_dir(follow_symlinks=False)]
    for folder in folders:
        try:
            folder_was_old = folder.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        for dirpath, _dirs, files in os.walk(folder, topdown=False):
            for name in files:
                path = Path(dirpath) / name
                try:
                    info = path.lstat()
                except FileNotFoundError:
                    continue
                if _file_key(path) in named or info.st_mtime >= cutoff:
                    continue
                size = _unlink(path)
                if size is not None:
                    removed.add(path, size)
            if dirpath != str(folder):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)  # a subfolder left empty
        if folder_was_old:
            with contextlib.suppress(OSError):  # not empty (a named file, a young one): it stays
                folder.rmdir()


async def collect_forever() -> None:
    """The backend's pass at its start, then every CNNLAB_GC_INTERVAL_S; a pass another process is
    making is not made twice."""
    while True:
        try:
            await run_in_threadpool(collect, False)
        except Exception:  # noqa: BLE001 - a database outage: the next pass tries again
            log.exception("storage: the garbage collection failed")
        await asyncio.sleep(settings.GC_INTERVAL_S)
