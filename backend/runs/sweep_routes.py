from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES
from backend.core.limits import INT_MAX, SweepId
from backend.core.markdown import render_note
from backend.core.tables import Run, Sweep
from backend.identity.rules import AUTH_RESPONSES, Member, check_owner_field
from backend.runs import admission, sweeps
from backend.runs.schemas import SweepCreate, SweepEstimate, SweepPublic, SweepsPublic, next_seeds
from backend.runs.views import runs_public

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"], responses=AUTH_RESPONSES)


def sweep_public(session: Session, sweep: Sweep) -> SweepPublic:
    runs = session.scalars(select(Run).where(Run.sweep_id == sweep.id).order_by(Run.id)).all()
    return SweepPublic(id=sweep.id, name=sweep.name, owner=sweep.owner.username, base_config=sweep.base_config,
                       grid=sweep.grid, repeats=sweep.repeats, created_at=sweep.created_at,
                       runs=runs_public(session, runs, None), tags=list(sweep.tags or []), note=sweep.note,
                       note_html=render_note(sweep.note))


@router.post("", status_code=201, response_model=SweepPublic, responses=QUOTA_RESPONSES)
def create_sweep(body: SweepCreate, session: SessionDep, identity: Member) -> SweepPublic:
    """One run per point of the grid (every combination of the values of its options), ``repeats``
    each, the caller's; every point is validated before anything is queued."""
    check_owner_field(identity, body.owner)
    planned = []
    for point in sweeps.plan(body):
        planned += admission.repeated(point.config, next_seeds(point.config.seed, body.repeats),
                                      f"{body.name} {point.label}"[:200], point.label)

    def link(sweep: Sweep, runs: list[Run]) -> None:
        for run in runs:
            run.sweep_id = sweep.id

    assert identity.user is not None  # Member: a signed-in user
    sweep = Sweep(name=body.name, owner=identity.user, base_config=body.base_config, grid=body.grid,
                  repeats=body.repeats)
    admission.admit(session, identity.user, planned, sweep, link)
    return sweep_public(session, sweep)


@router.post("/estimate", response_model=SweepEstimate)
def estimate_sweep(body: SweepCreate, session: SessionDep, identity: Member) -> SweepEstimate:
    """What the sweep would cost, before launching it: its runs and, per point, the time of a run —
    epochs × the lab's measured epoch time of the same network and batch size where it has one
    (capped by the time budget), else the time budget, the most a run may take. The same checks as
    launching it (the same 422s); nothing is stored or queued."""
    check_owner_field(identity, body.owner)
    return sweeps.estimate(session, body)


@router.get("", response_model=SweepsPublic)
def read_sweeps(
    session: SessionDep,
    _identity: Member,
    owner: str | None = Query(None, max_length=100, pattern=r"^[^\x00]*$", description="only this user's sweeps"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=INT_MAX),
) -> SweepsPublic:
    """Every sweep, newest first, a page at a time: what it varies, its points and runs, its runs by status."""
    data, count = sweeps.list_sweeps(session, owner, limit, offset)
    return SweepsPublic(data=data, count=count)


@router.get("/{sweep_id:int}", response_model=SweepPublic)  # :int — /api/sweeps/estimate is another route
def read_sweep(sweep_id: SweepId, session: SessionDep, _identity: Member) -> SweepPublic:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"Sweep {sweep_id} not found")
    return sweep_public(session, sweep)
