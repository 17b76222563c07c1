"""Sweeps: a grid over one or more run options (every combination of their values, ``repeats`` runs
each), planned and checked point by point before anything is stored; what a sweep would cost before
it is launched; the list of sweeps.

``plan`` is the one reading of a sweep's body: ``POST /api/sweeps`` admits its points through
``backend.runs.admission`` and ``POST /api/sweeps/estimate`` prices the same points, so an estimate
refuses exactly what a launch would.
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.architecture import summarize
from backend.core.errors import field_error
from backend.core.tables import Run, Sweep, User
from backend.runs import admission
from backend.runs.schemas import MAX_SWEEP_POINTS, PointEstimate, SweepCreate, SweepEstimate, SweepSummary
from backend.training.config import TrainConfig
from backend.training.options import set_path

MEASURED_RUNS = 5  # an epoch's time: the median of at most this many recent comparable runs
MEASURED_WINDOW = 500  # … looked for among this many recent runs of the same network


@dataclass(frozen=True)
class Point:
    """One point of the grid: its values, its label (``lr=0.1 batch_size=256``) and its checked config."""

    values: dict[str, Any]
    label: str
    config: TrainConfig


def points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_count(grid: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in grid.values())


def plan(body: SweepCreate) -> list[Point]:
    """Every point of the sweep, checked as admission checks a run; refusals name the field and the
    limit. The grid is counted before a single point is built."""
    if not body.grid:
        raise field_error("grid", "needs at least one field with values")
    for key, given in body.grid.items():
        if not given:
            raise field_error(f"grid.{key}", "needs at least one value")
    count = point_count(body.grid)
    if count > MAX_SWEEP_POINTS:
        raise field_error("grid", f"{count:,} points is over the limit of {MAX_SWEEP_POINTS}")
    if count * body.repeats > MAX_SWEEP_POINTS:
        raise field_error("repeats", f"{count:,} points × {body.repeats} repeats = {count * body.repeats:,} runs is "
                                     f"over the limit of {MAX_SWEEP_POINTS}")
    out = []
    for values in points(body.grid):
        raw = copy.deepcopy(body.base_config)
        try:
            for key, value in values.items():
                set_path(raw, key, value)
        except ValueError as exc:
            raise field_error("grid", str(exc)) from None
        label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in values.items())
        out.append(Point(values, label, admission.checked_config(raw, "base_config", note=f" (grid point {values})")))
    return out


# --- what it would cost ---------------------------------------------------------------------------

def _cost_key(params: int, macs: int, config: dict[str, Any]) -> Hashable:
    """What an epoch's time depends on most: the network's size, the batch and the training images."""
    data = config.get("data") or {}
    return (params, macs, config.get("batch_size"), data.get("source"), data.get("train_limit"), data.get("holdout"))


def measured_epochs(session: Session, configs: list[TrainConfig]) -> dict[Hashable, list[float]]:
    """Seconds an epoch took in the lab's most recent runs comparable to each config (the same
    network by parameters and MACs, batch size and training data), newest first, at most
    MEASURED_RUNS each."""
    wanted: dict[Hashable, list[float]] = {}
    sizes = set()
    for config in configs:
        summary = summarize(config.architecture)
        sizes.add(summary.total_macs)
        wanted[_cost_key(summary.total_params, summary.total_macs, config.model_dump(mode="json"))] = []
    rows = session.execute(
        select(Run.params, Run.macs, Run.config, Run.train_seconds, Run.epochs_done)
        .where(Run.macs.in_(sizes), Run.epochs_done > 0, Run.train_seconds > 0)
        .order_by(Run.id.desc()).limit(MEASURED_WINDOW)).all()
    for params, macs, config, seconds, epochs in rows:
        found = wanted.get(_cost_key(params, macs, config))
        if found is not None and len(found) < MEASURED_RUNS:
            found.append(seconds / epochs)
    return wanted


def _hours_words(seconds: float) -> str:
    """'0.75 GPU-hours (45 min)', '2.50 GPU-hours', '12.0 GPU-hours'."""
    hours = seconds / 3600
    words = (f"{hours:,.1f}" if hours >= 10 else f"{hours:.2f}") + " GPU-hours"
    if hours < 1:
        words += f" ({max(1, round(seconds / 60))} min)"
    return words


def estimate(session: Session, body: SweepCreate) -> SweepEstimate:
    """Each point's runs end at their planned epochs or their time budget, whichever comes first:
    epochs × a measured epoch time where the lab has one (capped by the budget), else the time
    budget, the most a run may take. Stores nothing."""
    planned = plan(body)
    measured = measured_epochs(session, [p.config for p in planned])
    out = []
    for p in planned:
        summary = summarize(p.config.architecture)
        times = measured[_cost_key(summary.total_params, summary.total_macs, p.config.model_dump(mode="json"))]
        budget, epochs = p.config.time_budget_s, p.config.epochs
        where = f"{summary.total_params:,} parameters, batch {p.config.batch_size}"
        if times:
            epoch_s = statistics.median(times)
            run_s = min(epochs * epoch_s, budget)
            source = ("the lab's most recent run" if len(times) == 1
                      else f"the median of the lab's {len(times)} most recent runs")
            note = (f"measured: {epoch_s:.3g} s an epoch, {source} of this network ({where}) on the same data; "
                    f"{epochs} epochs{' (capped by the time budget)' if run_s == budget else ''}")
            out.append(PointEstimate(point=p.values, label=p.label, runs=body.repeats, epochs=epochs,
                                     time_budget_s=budget, epoch_s=epoch_s, measured_runs=len(times),
                                     basis="measured", run_s=run_s, seconds=run_s * body.repeats, note=note))
        else:
            note = (f"time budget: {budget:g} s a run, the most it may take; no run of this network ({where}) "
                    "on the same data has recorded an epoch yet")
            out.append(PointEstimate(point=p.values, label=p.label, runs=body.repeats, epochs=epochs,
                                     time_budget_s=budget, epoch_s=None, measured_runs=0, basis="time_budget",
                                     run_s=budget, seconds=budget * body.repeats, note=note))
    runs = len(planned) * body.repeats
    seconds = sum(p.seconds for p in out)
    return SweepEstimate(points=out, runs=runs, max_runs=MAX_SWEEP_POINTS, seconds=seconds, hours=seconds / 3600,
                         summary=f"{runs} run{'s' if runs != 1 else ''}, about {_hours_words(seconds)} at most")


# --- the list of sweeps ---------------------------------------------------------------------------

def list_sweeps(session: Session, owner: str | None, limit: int, offset: int) -> tuple[list[SweepSummary], int]:
    """One page of sweeps, newest first, each with its runs counted by status; and how many match."""
    stmt = select(Sweep)
    if owner:
        stmt = stmt.join(User, User.id == Sweep.owner_id).where(User.username == owner.strip().lower())
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    sweeps = session.scalars(stmt.order_by(Sweep.id.desc()).limit(limit).offset(offset)).unique().all()
    statuses: dict[int, dict[str, int]] = {s.id: {} for s in sweeps}
    if sweeps:
        rows = session.execute(select(Run.sweep_id, Run.status, func.count()).where(Run.sweep_id.in_(list(statuses)))
                               .group_by(Run.sweep_id, Run.status).order_by(Run.sweep_id, Run.status)).all()
        for sweep_id, status, n in rows:
            if sweep_id is not None:  # the WHERE above: never None
                statuses[sweep_id][status] = n
    return [SweepSummary(id=s.id, name=s.name, owner=s.owner.username, grid=s.grid, repeats=s.repeats,
                         points=point_count(s.grid), runs=sum(statuses[s.id].values()), statuses=statuses[s.id],
                         created_at=s.created_at) for s in sweeps], count
