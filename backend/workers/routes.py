"""What workers call: claim a run, report epochs and checkpoints, heartbeat, finish.

Every route needs the worker credential (backend.identity.rules.worker). Claiming a run returns a
random lease, shown in no other response; every later call of that attempt sends it as
X-Run-Lease. A wrong lease, or one superseded by a newer attempt (the run was requeued after a
lost heartbeat), gets 409 (backend.core.errors.Conflict, mapped once in backend.main) and stores
nothing, and its worker stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import checkpoint_or_404, get_run_or_404
from backend.core import events
from backend.core.db import SessionDep, SessionLocal
from backend.core.errors import ErrorBody, field_error
from backend.core.limits import INT_MAX, CheckpointKindPath, RunId, too_large
from backend.core.settings import settings
from backend.core.statuses import CheckpointKind, RunStatus
from backend.core.tables import Checkpoint, RunEvaluation
from backend.identity.rules import AUTH_RESPONSES, Message, worker
from backend.models import exports
from backend.runs import service as run_service
from backend.runs import system as system_metrics
from backend.runs.protocol import (
    ClaimRequest,
    ClaimResponse,
    EpochReport,
    EvaluationReport,
    ExportClaim,
    FinishRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    ModelFailure,
)
from backend.searches import engine as searches
from backend.workers import presence

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

log = logging.getLogger("cnnlab.worker_routes")
router = APIRouter(prefix="/api/worker/runs", tags=["worker"], dependencies=[Depends(worker)],
                   responses={**AUTH_RESPONSES, 409: {"model": Message, "description": "Not queued (claim), or the "
                                                      "lease does not hold the run (wrong or superseded)"}})
LEASE_HEADER = "X-Run-Lease"
Lease = Annotated[str, Header(alias=LEASE_HEADER, max_length=100, description="the lease the claim returned")]


@router.post("/{run_id}/claim", response_model=ClaimResponse)
def claim_run(run_id: RunId, body: ClaimRequest, session: SessionDep) -> ClaimResponse:
    claimed = run_service.claim(session, run_id, body.host, body.device)
    if claimed is None:
        current = get_run_or_404(session, run_id)
        raise HTTPException(409, f"Run {run_id} is {current.status}, not queued")
    run, lease = claimed
    if body.worker is not None:
        presence.record_claim(session, body.worker, body.host, body.device, run_id)
    last = next((c for c in run.checkpoints if c.kind == CheckpointKind.LAST), None)
    events.changed(run_id)
    return ClaimResponse(attempt=run.attempt, lease=lease, config=run.config, resume_epoch=last.epoch if last else 0)


@router.post("/{run_id}/epochs", status_code=204)
def report_epochs(run_id: RunId, body: EpochReport, session: SessionDep, lease: Lease) -> None:
    """Up to 100 epochs, each in 1..the run's planned epochs; stored only for the lease's attempt."""
    run = get_run_or_404(session, run_id)
    run_service.record_epochs(session, run, lease, body.metrics)  # Invalid: 422 naming the field (backend.main)
    session.commit()
    events.changed(run_id)
    if run.search_id is not None:  # a search's trial: its pruner sees the epoch now
        try:
            searches.epochs_recorded(session, run, [(m.epoch, run_service.choice_score(run, m), m.train_loss)
                                                    for m in body.metrics])
        except Exception:  # noqa: BLE001 - the epoch is stored; a search's trouble never fails the worker's report
            log.exception("search %s: the epochs of run %s were not reported to its trial", run.search_id, run_id)


@router.post("/{run_id}/heartbeat", response_model=HeartbeatResponse)
def heartbeat(run_id: RunId, body: HeartbeatRequest, session: SessionDep, lease: Lease) -> HeartbeatResponse:
    """Keeps the lease's attempt alive; its progress and system metrics are stored only under the lease."""
    run = get_run_or_404(session, run_id)
    current = run_service.heartbeat(session, run, lease, body.progress.model_dump() if body.progress else None,
                                    also=lambda: system_metrics.record(session, run_id, body.system))
    if current and body.progress is not None:
        events.changed(run_id)  # the run page's progress bar and the runs list move
    return HeartbeatResponse(status=RunStatus(run.status), cancel_requested=run.cancel_requested,
                             prune_requested=run.prune_requested, current=current)


@router.put("/{run_id}/checkpoints/{kind}", status_code=204,
            responses={413: {"model": ErrorBody, "description": "Over CNNLAB_MAX_CHECKPOINT_BYTES"}})
async def upload_checkpoint(run_id: RunId, kind: CheckpointKindPath, request: Request, lease: Lease,
                            attempt: int = Query(ge=0, le=INT_MAX), epoch: int = Query(ge=1, le=INT_MAX)) -> None:
    """The body streams to a unique temporary file, refused (413) as soon as it passes the lab's
    cap; the credential, the lease and the epoch (1..the run's planned epochs) are checked before a
    byte of it is read, and an empty body is refused (422)."""
    await run_in_threadpool(check_lease, run_id, lease, epoch)
    async with upload(request, run_id, kind) as (tmp, size, sha256):
        if size == 0:
            raise field_error("body", "a checkpoint is needed, got no bytes")
        # the file and the database work run off the event loop, so live streams never wait on them
        await run_in_threadpool(store_checkpoint, run_id, kind, lease, epoch, tmp, size, sha256)


WRITE_BATCH_BYTES = 1_048_576  # an upload's chunks are gathered to this size, then written in a worker thread


@contextlib.asynccontextmanager
async def upload(request: Request, run_id: int, what: str) -> AsyncIterator[tuple[Path, int, str]]:
    """The body streamed to a unique temporary file in the run's folder, refused (413) as soon as
    it passes CNNLAB_MAX_CHECKPOINT_BYTES (by its Content-Length at once); yields (file, size,
    sha256) and removes the file unless the caller moved it. Only the reading is on the event
    loop: the file's creation, every write, the hashing and the clean-up run in worker threads."""
    cap = settings.MAX_CHECKPOINT_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise too_large("body", cap, "CNNLAB_MAX_CHECKPOINT_BYTES")
    with anyio.CancelScope(shield=True):  # made and then owned here, even when the request is cancelled
        tmp, out = await run_in_threadpool(_temporary, run_id, what)
    hasher, size, pending = hashlib.sha256(), 0, bytearray()
    try:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise too_large("body", cap, "CNNLAB_MAX_CHECKPOINT_BYTES")
                pending += chunk
                if len(pending) >= WRITE_BATCH_BYTES:
                    await run_in_threadpool(_write, out, hasher, bytes(pending))
                    pending.clear()
            if pending:
                await run_in_threadpool(_write, out, hasher, bytes(pending))
        finally:
            with anyio.CancelScope(shield=True):  # closed even when the request is cancelled
                await run_in_threadpool(out.close)
        yield tmp, size, hasher.hexdigest()
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(tmp.unlink, missing_ok=True)  # unless the caller moved it


def _temporary(run_id: int, what: str) -> tuple[Path, BinaryIO]:
    folder = Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{what}.", suffix=".upload")
    return Path(tmp), os.fdopen(fd, "wb")


def _write(out: BinaryIO, hasher: Hash, data: bytes) -> None:
    """In a worker thread: hashlib and the file write release the GIL for a chunk this size."""
    hasher.update(data)
    out.write(data)


def check_lease(run_id: int, lease: str, epoch: int) -> None:
    with SessionLocal() as session:
        run = get_run_or_404(session, run_id)
        run_service.ensure_current(run, lease)
        run_service.check_epoch(run, epoch, "epoch")  # the upload's query: one of the run's planned epochs


def store_checkpoint(run_id: int, kind: str, lease: str, epoch: int, tmp: Path, size: int, sha256: str) -> None:
    with SessionLocal() as session:
        run = get_run_or_404(session, run_id)
        run_service.guarded_update(session, run_id, lease)  # holds the run until the commit
        path = tmp.parent / f"{kind}.pt"
        os.replace(tmp, path)
        row = next((c for c in run.checkpoints if c.kind == kind), None)
        if row is None:
            row = Checkpoint(run_id=run_id, kind=kind, epoch=epoch, path=str(path), size_bytes=0, sha256="")
            session.add(row)
        row.epoch, row.path, row.size_bytes, row.sha256 = epoch, str(path), size, sha256
        session.commit()


@router.get("/{run_id}/checkpoints/{kind}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The checkpoint"}})
def fetch_checkpoint(run_id: RunId, kind: CheckpointKindPath, session: SessionDep, lease: Lease) -> Response:
    """For the attempt that resumes the run, or the worker exporting it."""
    run = get_run_or_404(session, run_id)
    if exports.holds(session, run_id, lease) is None:
        run_service.ensure_current(run, lease)
    row = checkpoint_or_404(run, kind)
    return FileResponse(row.path, media_type="application/octet-stream", headers={"X-Checkpoint-Epoch": str(row.epoch)})


@router.put("/{run_id}/model", status_code=204,
            responses={413: {"model": ErrorBody, "description": "Over CNNLAB_MAX_CHECKPOINT_BYTES"}})
async def upload_model(run_id: RunId, request: Request, lease: Lease, epoch: int = Query(ge=1, le=INT_MAX)) -> None:
    """The run's exported ONNX classifier (worker.export, already checked against torch), streamed
    like a checkpoint and under the same cap; the lease — of the training attempt, or of an export
    asked for later — and the epoch (1..the run's planned epochs) are checked before a byte is read."""
    await run_in_threadpool(check_model_lease, run_id, lease, epoch)
    async with upload(request, run_id, "model") as (tmp, size, sha256):
        if size == 0:
            raise field_error("body", "an ONNX model is needed, got no bytes")
        await run_in_threadpool(store_model, run_id, lease, epoch, tmp, size, sha256)


def check_model_lease(run_id: int, lease: str, epoch: int) -> None:
    with SessionLocal() as session:
        run = get_run_or_404(session, run_id)
        if not run_service.holds_lease(run, lease) and exports.holds(session, run_id, lease) is None:
            raise run_service.not_held(run_id)
        run_service.check_epoch(run, epoch, "epoch")


def store_model(run_id: int, lease: str, epoch: int, tmp: Path, size: int, sha256: str) -> None:
    with SessionLocal() as session:
        exports.guard_write(session, run_id, lease)  # holds the run (or the export) until the commit
        path = tmp.parent / "model.onnx"
        os.replace(tmp, path)
        exports.mark_ready(session, run_id, path, size, sha256, epoch)


@router.post("/{run_id}/export/claim", response_model=ExportClaim)
def claim_export(run_id: RunId, session: SessionDep) -> ExportClaim:
    """Take an export asked for after the run ended: its lease (for the checkpoint and the model)
    and the run's config."""
    run = get_run_or_404(session, run_id)
    lease = exports.claim(session, run)
    best = next(c for c in run.checkpoints if c.kind == CheckpointKind.BEST)
    return ExportClaim(lease=lease, config=run.config, best_epoch=best.epoch, test_acc=run.best_test_acc)


@router.post("/{run_id}/model/failure", status_code=204)
def report_model_failure(run_id: RunId, body: ModelFailure, session: SessionDep, lease: Lease) -> None:
    """The export did not pass (an exporter error, or onnxruntime not within 1e-4 of torch): why."""
    get_run_or_404(session, run_id)
    exports.guard_write(session, run_id, lease)
    exports.mark_failed(session, run_id, body.reason)


@router.put("/{run_id}/evaluation", status_code=204)
def report_evaluation(run_id: RunId, body: EvaluationReport, session: SessionDep, lease: Lease) -> None:
    """The chosen weights' class report; for a run that reads the test set only at its end, its accuracy
    is the run's test accuracy (its only reading of the test set)."""
    run = get_run_or_404(session, run_id)
    run_service.guarded_update(session, run_id, lease)  # holds the run until the commit
    row = session.get(RunEvaluation, run_id) or RunEvaluation(run_id=run_id, epoch=body.report.epoch, report={})
    row.epoch, row.report = body.report.epoch, body.report.model_dump()
    session.add(row)
    run_service.record_end_test(run, body.report.epoch, body.report.accuracy)
    session.commit()
    events.changed(run_id)


@router.post("/{run_id}/finish", status_code=204)
def finish_run(run_id: RunId, body: FinishRequest, session: SessionDep, lease: Lease) -> None:
    run = get_run_or_404(session, run_id)
    run_service.finish(session, run, lease, body.status, body.reason, body.elapsed_s)
    presence.record_finish(session, run_id)
    events.changed(run_id)
    if run.search_id is not None:  # a search's trial ended: tell it, ask for the next
        try:
            searches.advance(run.search_id)
        except Exception:  # noqa: BLE001 - the status is stored; the reaper's tick tells the search again
            log.exception("search %s: not advanced after run %s finished", run.search_id, run_id)
