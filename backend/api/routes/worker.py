"""What workers call: claim a run, report epochs and checkpoints, heartbeat, finish.

Every route needs the worker credential (backend.auth.rules.worker). Claiming a run returns a
random lease, shown in no other response; every later call of that attempt sends it as
X-Run-Lease. A wrong lease, or one superseded by a newer attempt (the run was requeued after a
lost heartbeat), gets 409 and stores nothing, and its worker stops.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend import events
from backend.api.deps import SessionDep, checkpoint_or_404, get_run_or_404
from backend.auth.rules import AUTH_RESPONSES, Message, worker
from backend.db import SessionLocal
from backend.models import Checkpoint, RunEvaluation
from backend.schemas import (
    ClaimRequest,
    ClaimResponse,
    EpochReport,
    EvaluationReport,
    FinishRequest,
    HeartbeatRequest,
    HeartbeatResponse,
)
from backend.services import runs as run_service
from backend.settings import settings

router = APIRouter(prefix="/api/worker/runs", tags=["worker"], dependencies=[Depends(worker)],
                   responses={**AUTH_RESPONSES, 409: {"model": Message, "description": "Not queued (claim), or the "
                                                      "lease does not hold the run (wrong or superseded)"}})
KINDS = ("last", "best")
LEASE_HEADER = "X-Run-Lease"
Lease = Annotated[str, Header(alias=LEASE_HEADER, max_length=100, description="the lease the claim returned")]


@router.post("/{run_id}/claim", response_model=ClaimResponse)
def claim_run(run_id: int, body: ClaimRequest, session: SessionDep) -> ClaimResponse:
    claimed = run_service.claim(session, run_id, body.host, body.device)
    if claimed is None:
        current = get_run_or_404(session, run_id)
        raise HTTPException(409, f"Run {run_id} is {current.status}, not queued")
    run, lease = claimed
    last = next((c for c in run.checkpoints if c.kind == "last"), None)
    events.changed(run_id)
    return ClaimResponse(attempt=run.attempt, lease=lease, config=run.config, resume_epoch=last.epoch if last else 0)


@router.post("/{run_id}/epochs", status_code=204)
def report_epochs(run_id: int, body: EpochReport, session: SessionDep, lease: Lease) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.record_epochs(session, run, lease, body.metrics)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    session.commit()
    events.changed(run_id)


@router.post("/{run_id}/heartbeat", response_model=HeartbeatResponse)
def heartbeat(run_id: int, body: HeartbeatRequest, session: SessionDep, lease: Lease) -> HeartbeatResponse:
    run = get_run_or_404(session, run_id)
    current = run_service.heartbeat(session, run, lease)
    return HeartbeatResponse(status=run.status, cancel_requested=run.cancel_requested, current=current)


MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024  # our nets are under 256k parameters: a few MB at most


@router.put("/{run_id}/checkpoints/{kind}", status_code=204)
async def upload_checkpoint(run_id: int, kind: str, request: Request, lease: Lease,
                            attempt: int = Query(), epoch: int = Query(ge=1)) -> None:
    if kind not in KINDS:
        raise HTTPException(404, f"Unknown checkpoint kind {kind!r}")
    await run_in_threadpool(check_lease, run_id, lease)  # before a byte of the body is read
    data = await request.body()
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise HTTPException(413, f"checkpoint of {len(data):,} bytes is over the limit of {MAX_CHECKPOINT_BYTES:,}")
    # the file and the database work run off the event loop, so live streams never wait on them
    await run_in_threadpool(store_checkpoint, run_id, kind, lease, epoch, data)


def check_lease(run_id: int, lease: str) -> None:
    with SessionLocal() as session:
        try:
            run_service.ensure_current(get_run_or_404(session, run_id), lease)
        except run_service.Conflict as exc:
            raise HTTPException(409, str(exc)) from None


def store_checkpoint(run_id: int, kind: str, lease: str, epoch: int, data: bytes) -> None:
    with SessionLocal() as session:
        run = get_run_or_404(session, run_id)
        try:
            run_service.ensure_current(run, lease)
        except run_service.Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        folder = Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind}.pt"
        tmp = folder / f".{kind}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
        row = next((c for c in run.checkpoints if c.kind == kind), None)
        if row is None:
            row = Checkpoint(run_id=run_id, kind=kind, epoch=epoch, path=str(path), size_bytes=0, sha256="")
            session.add(row)
        row.epoch, row.path, row.size_bytes = epoch, str(path), len(data)
        row.sha256 = hashlib.sha256(data).hexdigest()
        session.commit()


@router.get("/{run_id}/checkpoints/{kind}")
def fetch_checkpoint(run_id: int, kind: str, session: SessionDep, lease: Lease) -> Response:
    run = get_run_or_404(session, run_id)
    try:
        run_service.ensure_current(run, lease)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    row = checkpoint_or_404(run, kind)
    return FileResponse(row.path, media_type="application/octet-stream", headers={"X-Checkpoint-Epoch": str(row.epoch)})


@router.put("/{run_id}/evaluation", status_code=204)
def report_evaluation(run_id: int, body: EvaluationReport, session: SessionDep, lease: Lease) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.ensure_current(run, lease)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    row = session.get(RunEvaluation, run_id) or RunEvaluation(run_id=run_id, epoch=body.report.epoch, report={})
    row.epoch, row.report = body.report.epoch, body.report.model_dump()
    session.add(row)
    session.commit()
    events.changed(run_id)


@router.post("/{run_id}/finish", status_code=204)
def finish_run(run_id: int, body: FinishRequest, session: SessionDep, lease: Lease) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.finish(session, run, lease, body.status, body.reason, body.elapsed_s)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    events.changed(run_id)
