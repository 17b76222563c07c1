from __future__ import annotations

import copy
import itertools
import math
from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES, field_error
from backend.core.limits import SweepId
from backend.core.tables import Run, Sweep
from backend.identity.rules import AUTH_RESPONSES, Member, check_owner_field
from backend.runs import admission
from backend.runs.schemas import MAX_SWEEP_POINTS, SweepCreate, SweepPublic, next_seeds
from backend.runs.views import run_public
from backend.training.options import set_path

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"], responses=AUTH_RESPONSES)


def points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def sweep_public(session: Session, sweep: Sweep) -> SweepPublic:
    runs = session.scalars(select(Run).where(Run.sweep_id == sweep.id).order_by(Run.id)).all()
    return SweepPublic(id=sweep.id, name=sweep.name, owner=sweep.owner.username, base_config=sweep.base_config,
                       grid=sweep.grid, repeats=sweep.repeats, created_at=sweep.created_at,
                       runs=[run_public(r) for r in runs])


@router.post("", status_code=201, response_model=SweepPublic, responses=QUOTA_RESPONSES)
def create_sweep(body: SweepCreate, session: SessionDep, identity: Member) -> SweepPublic:
    """One run per point of the grid, the caller's; every point is validated before anything is queued."""
    check_owner_field(identity, body.owner)
    if not body.grid:
        raise field_error("grid", "needs at least one field with values")
    for key, values in body.grid.items():
        if not values:
            raise field_error(f"grid.{key}", "needs at least one value")
    count = math.prod(len(values) for values in body.grid.values())  # before a single point is built
    if count > MAX_SWEEP_POINTS:
        raise field_error("grid", f"{count:,} points is over the limit of {MAX_SWEEP_POINTS}")
    if count * body.repeats > MAX_SWEEP_POINTS:
        raise field_error("repeats", f"{count:,} points × {body.repeats} repeats = {count * body.repeats:,} runs is "
                                     f"over the limit of {MAX_SWEEP_POINTS}")
    grid_points = points(body.grid)
    planned = []
    for point in grid_points:
        raw = copy.deepcopy(body.base_config)
        try:
            for key, value in point.items():
                set_path(raw, key, value)
        except ValueError as exc:
            raise field_error("grid", str(exc)) from None
        label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in point.items())
        config = admission.checked_config(raw, "base_config", note=f" (grid point {point})")
        planned += admission.repeated(config, next_seeds(config.seed, body.repeats), f"{body.name} {label}"[:200],
                                      label)

    def link(sweep: Sweep, runs: list[Run]) -> None:
        for run in runs:
            run.sweep_id = sweep.id

    assert identity.user is not None  # Member: a signed-in user
    sweep = Sweep(name=body.name, owner=identity.user, base_config=body.base_config, grid=body.grid,
                  repeats=body.repeats)
    admission.admit(session, identity.user, planned, sweep, link)
    return sweep_public(session, sweep)


@router.get("/{sweep_id}", response_model=SweepPublic)
def read_sweep(sweep_id: SweepId, session: SessionDep, _identity: Member) -> SweepPublic:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"Sweep {sweep_id} not found")
    return sweep_public(session, sweep)
