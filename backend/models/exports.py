"""Exports asked for after a run ended (its page's "Export"): a worker builds the ONNX model from the
run's best checkpoint — the backend does no torch work. The export holds a lease of its own, as a
training attempt does: only the worker that claimed it may fetch the checkpoint and store the model."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.core import queue
from backend.core.statuses import RunStatus
from backend.core.tables import Run, RunModel
from backend.identity.secrets import digest, new_secret, same
from backend.runs.service import Conflict


def request(session: Session, run: Run) -> RunModel:
    """Queue an export of a succeeded run that has a best checkpoint and no model (409 otherwise)."""
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict(f"Run {run.id} is {run.status}: only a succeeded run is exported")
    if not any(c.kind == "best" for c in run.checkpoints):
        raise Conflict(f"Run {run.id} has no best checkpoint to export")
    row = session.get(RunModel, run.id)
    if row is not None and row.status in ("ready", "exporting"):
        raise Conflict(f"Run {run.id} is already {'exported' if row.status == 'ready' else 'being exported'}")
    if row is None:
        row = RunModel(run_id=run.id, status="exporting")
        session.add(row)
    row.status, row.reason, row.path, row.lease_hash = "exporting", None, None, None
    session.commit()
    try:
        queue.enqueue_export(run.id)
    except Exception as exc:  # noqa: BLE001 - broker unreachable: say so, keep nothing half-done
        row.status, row.reason = "failed", "the broker was unreachable when the export was asked for; ask again"
        session.commit()
        raise Conflict(f"Run {run.id}: the broker is unreachable ({type(exc).__name__}); try again") from None
    return row


def claim(session: Session, run: Run) -> str:
    """A worker takes the export: a new lease (a claim after a lost worker supersedes its lease)."""
    row = session.get(RunModel, run.id)
    if row is None or row.status != "exporting":
        raise Conflict(f"Run {run.id} has no export waiting")
    lease = new_secret()
    row.lease_hash = digest(lease)
    session.commit()
    return lease


def holds(session: Session, run_id: int, lease: str | None) -> RunModel | None:
    """The export row when ``lease`` holds it, else None."""
    row = session.get(RunModel, run_id)
    if not lease or row is None or row.status != "exporting" or row.lease_hash is None:
        return None
    return row if same(digest(lease), row.lease_hash) else None
