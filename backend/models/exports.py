"""A run's ONNX model and its status (``ModelStatus``: exporting, ready, failed), written here only.

Exports asked for after a run ended (its page's "Export"): a worker builds the ONNX model from the
run's best checkpoint — the backend does no torch work. The export holds a lease of its own, as a
training attempt does: only the worker that claimed it may fetch the checkpoint and store the model.
A training attempt stores its model at its end under its own lease.

Every change of a model's status is told as a change of its run (``events.changed``: the topics
``run:{id}`` and ``runs``) after its commit, so the run's page follows an export without polling.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from backend.core import events, queue
from backend.core.errors import Conflict
from backend.core.statuses import CheckpointKind, ModelStatus, RunStatus
from backend.core.tables import Run, RunModel
from backend.identity.secrets import digest, new_secret, same
from backend.models import prediction
from backend.runs import service as run_service


def request(session: Session, run: Run) -> RunModel:
    """Queue an export of a succeeded run that has a best checkpoint and no model (409 otherwise)."""
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict(f"Run {run.id} is {run.status}: only a succeeded run is exported")
    if not any(c.kind == CheckpointKind.BEST for c in run.checkpoints):
        raise Conflict(f"Run {run.id} has no best checkpoint to export (never written, or removed by the lab's "
                       "retention: CNNLAB_RETENTION_DAYS, CNNLAB_RETENTION_KEEP=model)")
    row = session.get(RunModel, run.id)
    if row is not None and row.status in (ModelStatus.READY, ModelStatus.EXPORTING):
        raise Conflict(f"Run {run.id} is already "
                       f"{'exported' if row.status == ModelStatus.READY else 'being exported'}")
    if row is None:
        row = RunModel(run_id=run.id, status=ModelStatus.EXPORTING)
        session.add(row)
    row.status, row.reason, row.path, row.lease_hash = ModelStatus.EXPORTING, None, None, None
    session.commit()
    events.changed(run.id)
    try:
        queue.enqueue_export(run.id)
    except Exception as exc:  # noqa: BLE001 - broker unreachable: say so, keep nothing half-done
        row.status = ModelStatus.FAILED
        row.reason = "the broker was unreachable when the export was asked for; ask again"
        session.commit()
        events.changed(run.id)
        raise Conflict(f"Run {run.id}: the broker is unreachable ({type(exc).__name__}); try again") from None
    return row


def claim(session: Session, run: Run) -> str:
    """A worker takes the export: a new lease (a claim after a lost worker supersedes its lease)."""
    row = session.get(RunModel, run.id)
    if row is None or row.status != ModelStatus.EXPORTING:
        raise Conflict(f"Run {run.id} has no export waiting")
    lease = new_secret()
    row.lease_hash = digest(lease)
    session.commit()
    return lease


def holds(session: Session, run_id: int, lease: str | None) -> RunModel | None:
    """The export row when ``lease`` holds it, else None."""
    row = session.get(RunModel, run_id)
    if not lease or row is None or row.status != ModelStatus.EXPORTING or row.lease_hash is None:
        return None
    return row if same(digest(lease), row.lease_hash) else None


def guard_write(session: Session, run_id: int, lease: str) -> None:
    """Only the training attempt's lease (one guarded UPDATE that holds the run until the commit)
    or the export's may write the run's model (409 otherwise)."""
    if holds(session, run_id, lease) is None:
        run_service.guarded_update(session, run_id, lease)


def mark_ready(session: Session, run_id: int, path: Path, size: int, sha256: str, epoch: int) -> None:
    """The model stored at ``path`` (checked against torch by the worker): ready to download and to
    classify with. Commits (after ``guard_write`` in the same session) and tells the run's page."""
    row = session.get(RunModel, run_id) or RunModel(run_id=run_id, status=ModelStatus.READY)
    row.status, row.reason, row.path, row.size_bytes, row.sha256, row.epoch, row.lease_hash = (
        ModelStatus.READY, None, str(path), size, sha256, epoch, None)
    session.merge(row)
    session.commit()
    prediction.forget(run_id)  # a model replaced: its cached session is stale
    events.changed(run_id)


def mark_failed(session: Session, run_id: int, reason: str) -> None:
    """The export did not pass (an exporter error, or onnxruntime not within 1e-4 of torch): why.
    Commits (after ``guard_write`` in the same session) and tells the run's page."""
    row = session.get(RunModel, run_id) or RunModel(run_id=run_id, status=ModelStatus.FAILED)
    row.status, row.reason, row.path, row.lease_hash = ModelStatus.FAILED, reason, None, None
    session.merge(row)
    session.commit()
    events.changed(run_id)
