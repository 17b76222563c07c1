"""What workers call: claim a run, report epochs and checkpoints, heartbeat, finish.

Every call names the attempt it belongs to; a superseded attempt (its run was requeued after a
lost heartbeat) gets 409 and its worker stops.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse

from starlette.concurrency import run_in_threadpool

from backend import events
from backend.db import SessionLocal
from backend.api.deps import SessionDep, checkpoint_or_404, get_run_or_404
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

router = APIRouter(prefix="/api/worker/runs", tags=["worker"])
KINDS = ("last", "best")


@router.post("/{run_id}/claim", response_model=ClaimResponse)
def claim_run(run_id: int, body: ClaimRequest, session: SessionDep) -> ClaimResponse:
    run = run_service.claim(session, run_id, body.host, body.device)
    if run is None:
        current = get_run_or_404(session, run_id)
        raise HTTPException(409, f"Run {run_id} is {current.status}, not queued")
    last = next((c for c in run.checkpoints if c.kind == "last"), None)
    events.changed(run_id)
    return ClaimResponse(attempt=run.attempt, config=run.config, resume_epoch=last.epoch if last else 0)


@router.post("/{run_id}/epochs", status_code=204)
def report_epochs(run_id: int, body: EpochReport, session: SessionDep) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.record_epochs(session, run, body.attempt, body.metrics)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    session.commit()
    events.changed(run_id)


@router.post("/{run_id}/heartbeat", response_model=HeartbeatResponse)
def heartbeat(run_id: int, body: HeartbeatRequest, session: SessionDep) -> HeartbeatResponse:
    run = get_run_or_404(session, run_id)
    current = run_service.heartbeat(session, run, body.attempt)
    return HeartbeatResponse(status=run.status, cancel_requested=run.cancel_requested, current=current)


MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024  # our nets are under 256k parameters: a few MB at most


@router.put("/{run_id}/checkpoints/{kind}", status_code=204)
async def upload_checkpoint(run_id: int, kind: str, request: Request,
                            attempt: int = Query(), epoch: int = Query(ge=1)) -> None:
    if kind not in KINDS:
        raise HTTPException(404, f"Unknown checkpoint kind {kind!r}")
    data = await request.body()
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise HTTPException(413, f"checkpoint of {len(data):,} bytes is over the limit of {MAX_CHECKPOINT_BYTES:,}")
    # the file and the database work run off the event loop, so live streams never wait on them
    await run_in_threadpool(store_checkpoint, run_id, kind, attempt, epoch, data)


def store_checkpoint(run_id: int, kind: str, attempt: int, epoch: int, data: bytes) -> None:
    with SessionLocal() as session:
        run = get_run_or_404(session, run_id)
        try:
            run_service.ensure_current(run, attempt)
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
def fetch_checkpoint(run_id: int, kind: str, session: SessionDep) -> Response:
    row = checkpoint_or_404(get_run_or_404(session, run_id), kind)
    return FileResponse(row.path, media_type="application/octet-stream", headers={"X-Checkpoint-Epoch": str(row.epoch)})


@router.put("/{run_id}/evaluation", status_code=204)
def report_evaluation(run_id: int, body: EvaluationReport, session: SessionDep) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.ensure_current(run, body.attempt)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    row = session.get(RunEvaluation, run_id) or RunEvaluation(run_id=run_id, epoch=body.report.epoch, report={})
    row.epoch, row.report = body.report.epoch, body.report.model_dump()
    session.add(row)
    session.commit()
    events.changed(run_id)


@router.post("/{run_id}/finish", status_code=204)
def finish_run(run_id: int, body: FinishRequest, session: SessionDep) -> None:
    run = get_run_or_404(session, run_id)
    try:
        run_service.finish(session, run, body.attempt, body.status, body.reason, body.elapsed_s)
    except run_service.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    events.changed(run_id)
