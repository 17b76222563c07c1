from __future__ import annotations

import copy
import itertools
import math
from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from backend import events, queue
from backend.api.deps import SessionDep, field_error, quota_error
from backend.api.routes.runs import public, validated_config
from backend.auth.rules import AUTH_RESPONSES, Member, check_owner_field
from backend.architecture import PRESETS
from backend.limits import SweepId
from backend.models import Run, Sweep
from backend.schemas import MAX_SWEEP_POINTS, SweepCreate, SweepPublic
from backend.services import runs as run_service

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"], responses=AUTH_RESPONSES)


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted field ('augment.crop', 'architecture.dropout_hidden') in a config dict."""
    parts = path.split(".")
    node = config
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, str) and part == "architecture" and child in PRESETS:
            child = PRESETS[child].model_dump(mode="json")  # a preset name opens into its fields
        if not isinstance(child, dict):
            child = {} if child is None else child
        if not isinstance(child, dict):
            raise ValueError(f"{'.'.join(parts[: parts.index(part) + 1])} is not an object")
        node[part] = child
        node = child
    node[parts[-1]] = value


def points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def sweep_public(session, sweep: Sweep) -> SweepPublic:
    runs = session.scalars(select(Run).where(Run.sweep_id == sweep.id).order_by(Run.id)).all()
    return SweepPublic(id=sweep.id, name=sweep.name, owner=sweep.owner.username, base_config=sweep.base_config,
                       grid=sweep.grid, created_at=sweep.created_at, runs=[public(r) for r in runs])


@router.post("", status_code=201, response_model=SweepPublic, responses=quota_error.responses)
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
    grid_points = points(body.grid)
    configs = []
    for point in grid_points:
        raw = copy.deepcopy(body.base_config)
        try:
            for key, value in point.items():
                set_path(raw, key, value)
        except ValueError as exc:
            raise field_error("grid", str(exc)) from None
        configs.append((point, validated_config(raw, "base_config", note=f" (grid point {point})")))
    with quota_error(), run_service.admission(session, identity.user, len(configs)):
        sweep = Sweep(name=body.name, owner=identity.user, base_config=body.base_config, grid=body.grid)
        session.add(sweep)
        session.flush()
        runs = []
        for point, config in configs:
            label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in point.items())
            runs.append(run_service.new_run(session, config, f"{body.name} {label}"[:200], identity.user, sweep.id))
        session.commit()
    for run in runs:
        queue.send_or_leave_to_reaper(run.id)
        events.changed(run.id)
    return sweep_public(session, sweep)


@router.get("/{sweep_id}", response_model=SweepPublic)
def read_sweep(sweep_id: SweepId, session: SessionDep, _identity: Member) -> SweepPublic:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"Sweep {sweep_id} not found")
    return sweep_public(session, sweep)
