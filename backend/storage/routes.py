"""Disk use (every member: their own runs', the lab's; admins: every user's) and the garbage
collector on an admin's demand. The same collection runs at each backend's start, every
CNNLAB_GC_INTERVAL_S, and from ``python -m backend.cli.storage gc``."""

from __future__ import annotations

from fastapi import APIRouter, Query

from backend.core.db import SessionDep
from backend.core.settings import settings
from backend.core.statuses import RunStatus
from backend.identity.rules import AUTH_RESPONSES, Admin, Member
from backend.identity.service import record
from backend.storage import service
from backend.storage.schemas import (
    MAX_LISTED_FILES,
    Collected,
    LabStorage,
    MyStorage,
    RunStorage,
    StoragePublic,
    UserStorage,
)

router = APIRouter(prefix="/api/storage", tags=["storage"], responses=AUTH_RESPONSES)


@router.get("", response_model=StoragePublic)
def read_storage(session: SessionDep, identity: Member,
                 limit: int = Query(20, ge=1, le=500, description="the caller's largest runs listed")) -> StoragePublic:
    """The caller's checkpoints and models (total, per run, their quota), the lab's total and its
    disk; an admin also sees every user's total. Sizes as the rows record them."""
    user = identity.user
    assert user is not None  # Member: a signed-in user
    ckpt, model = service.user_bytes(session, user.id)
    quota, source = service.quota_of(user)
    runs = service.largest_runs(session, user.id, limit)
    disk_total, disk_free = service.disk()
    users = [UserStorage(username=u.username, runs=u.runs, total_bytes=u.total_bytes, quota_bytes=u.quota_bytes)
             for u in service.every_user(session)] if identity.is_admin else None
    return StoragePublic(
        me=MyStorage(username=user.username, runs=service.runs_holding(session, user.id), total_bytes=ckpt + model,
                     checkpoint_bytes=ckpt, model_bytes=model, quota_bytes=quota,
                     quota_source=source if quota is not None else None),
        runs=[RunStorage(id=r.id, name=r.name, status=RunStatus(r.status), finished_at=r.finished_at,
                         checkpoint_bytes=r.checkpoint_bytes, model_bytes=r.model_bytes, total_bytes=r.total_bytes)
              for r in runs],
        lab=LabStorage(total_bytes=service.lab_bytes(session), disk_total_bytes=disk_total, disk_free_bytes=disk_free,
                       retention_days=settings.RETENTION_DAYS, retention_keep=settings.RETENTION_KEEP),
        users=users)


@router.post("/gc", response_model=Collected)
def collect_garbage(session: SessionDep, identity: Admin) -> Collected:
    """Collect now (after any collection under way): the retention, then files no row names that are
    over an hour old. What it removed; recorded."""
    removed = service.collect(wait=True)
    record(session, identity.user, "storage.gc", "storage", None,
           f"garbage collection: {len(removed.files)} files ({service.human_bytes(removed.bytes)}) removed; "
           f"checkpoints of {len(removed.trimmed_runs)} runs dropped by the retention")
    session.commit()
    return Collected(trimmed_runs=removed.trimmed_runs, removed_files=len(removed.files), freed_bytes=removed.bytes,
                     files=removed.files[:MAX_LISTED_FILES])
