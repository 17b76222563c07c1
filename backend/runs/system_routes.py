"""A run's system metrics and its epochs as CSV: what the run page plots beside its curves and links."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from backend.api.deps import get_run_or_404
from backend.core.db import SessionDep
from backend.core.limits import RunId
from backend.identity.rules import AUTH_RESPONSES, Member
from backend.runs import service as run_service
from backend.runs import system

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=AUTH_RESPONSES)


@router.get("/{run_id:int}/system", response_model=system.SystemSamplesPublic)
def read_system(run_id: RunId, session: SessionDep, _identity: Member) -> system.SystemSamplesPublic:
    """The worker's CPU use, memory, GPU utilisation and memory and images/s while the run trained,
    in time order (at most ``max_samples``: older ones merged beyond it; none for a run trained before
    they were recorded)."""
    get_run_or_404(session, run_id)
    return system.SystemSamplesPublic(run_id=run_id, data=[system.SystemSamplePublic.model_validate(row)
                                                           for row in system.rows_of(session, run_id)])


@router.get("/{run_id:int}/metrics.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "One row per epoch, a header first"}})
def read_metrics_csv(run_id: RunId, session: SessionDep, _identity: Member) -> Response:
    """Every recorded field of every epoch, numbers as recorded (unrounded)."""
    get_run_or_404(session, run_id)
    body = system.metrics_csv(run_service.metrics_of(session, run_id))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="run{run_id}-metrics.csv"'})
