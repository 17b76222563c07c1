"""A search as the API answers it: its trials (Optuna's state joined with their runs), counts, best
trial and Pareto front."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState
from sqlalchemy.orm import Session

from backend.core.markdown import render_note
from backend.core.settings import settings
from backend.core.statuses import ACTIVE_STATUSES, TRAINED_STATUSES, RunStatus, SearchStatus, TrialState
from backend.core.tables import Run, Search
from backend.searches import winner
from backend.searches.engine import own_runs, search_runs, spec_of
from backend.searches.registries import OBJECTIVES, counted
from backend.searches.schemas import (
    BestTrial,
    RungCount,
    RungRun,
    SearchCounts,
    SearchDetail,
    SearchPublic,
    TrialPublic,
)
from backend.searches.storage import storage

# Optuna's states in the lab's words (backend.core.statuses.TrialState)
STATES: dict[OptunaState, TrialState] = {
    OptunaState.RUNNING: TrialState.RUNNING, OptunaState.COMPLETE: TrialState.COMPLETED,
    OptunaState.PRUNED: TrialState.PRUNED, OptunaState.FAIL: TrialState.FAILED, OptunaState.WAITING: TrialState.WAITING}


def trials_of(search: Search) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name=search.optuna_name, storage=storage()).get_trials(deepcopy=False)
    except KeyError:  # its study is gone (a search deleted meanwhile)
        return []


def rung_run(run: Run, rungs_s: Sequence[float]) -> RungRun:
    return RungRun(rung=run.rung or 0, budget_s=rungs_s[run.rung or 0], run_id=run.id, run_status=RunStatus(run.status),
                   best_val_acc=run.best_val_acc, test_acc_at_best_val=run.test_acc_at_best_val)


def trial_public(trial: FrozenTrial, run: Run | None, promoted: Sequence[Run] = (),
                 rungs_s: Sequence[float] = ()) -> TrialPublic:
    """``promoted``: the trial's runs at later time rungs (``rungs_s``)."""
    problem = trial.user_attrs.get("problem") or trial.user_attrs.get("not_queued")
    state = TrialState.INFEASIBLE if "problem" in trial.user_attrs else STATES.get(trial.state, TrialState.FAILED)
    pruned_at = max(trial.intermediate_values) if trial.state == OptunaState.PRUNED and trial.intermediate_values \
        else None
    return TrialPublic(
        number=trial.number, state=state, params=trial.params,
        values=trial.values if state == TrialState.COMPLETED else None,
        run_id=run.id if run else None, run_status=RunStatus(run.status) if run else None,
        net_params=run.params if run else trial.user_attrs.get("net_params"),
        macs=run.macs if run else trial.user_attrs.get("macs"),
        best_val_acc=run.best_val_acc if run else None, test_acc_at_best_val=run.test_acc_at_best_val if run else None,
        best_test_acc=run.best_test_acc if run else None, epochs_done=run.epochs_done if run else None,
        epochs=run.epochs if run else None, pruned_at=pruned_at or (run.epochs_done if run and run.prune_requested
                                                                    and run.status == RunStatus.PRUNED else None),
        problem=problem,
        rung=max((r.rung or 0 for r in promoted), default=0),
        rungs=[rung_run(r, rungs_s) for r in sorted([*([run] if run and rungs_s else []), *promoted],
                                                     key=lambda r: r.rung or 0)],
    )


def objective(trial: TrialPublic) -> float | None:
    """What ranks a trial: its validation accuracy (searches from before the validation split
    told Optuna their best test accuracy, and are ranked on it)."""
    return trial.best_val_acc if trial.best_val_acc is not None else trial.best_test_acc


def pareto(points: Sequence[tuple[int, float, float]]) -> list[int]:
    """Numbers of the points no other point beats on both (higher accuracy, smaller size)."""
    front = []
    for number, acc, size in points:
        if not any((a >= acc and s <= size) and (a > acc or s < size) for _, a, s in points):
            front.append(number)
    return front


def best_pick(public: Sequence[TrialPublic], done: Sequence[TrialPublic], own: dict[int, Run], every: Sequence[Run],
              timed: bool) -> tuple[TrialPublic, Run] | None:
    """The best trial and the run it was chosen on: with time rungs, the best run of the highest rung
    any run finished; else the completed trial of the highest objective (ties: the smaller network)."""
    chosen = best_rung_run(every) if timed else None
    if chosen is not None:
        return next(t for t in public if t.number == chosen.trial_number), chosen
    if not done:
        return None
    top = max(done, key=lambda t: (objective(t) or 0.0, -(t.net_params or 0)))
    return top, own[top.number]


def best_rung_run(runs: Sequence[Run]) -> Run | None:
    """Among the runs of the highest rung where any run trained to its end, the one of the highest
    validation accuracy (ties: the smaller network)."""
    done = [r for r in runs if r.rung is not None and r.status in TRAINED_STATUSES and r.best_val_acc is not None]
    if not done:
        return None
    top = max(r.rung or 0 for r in done)
    return max((r for r in done if (r.rung or 0) == top), key=lambda r: (r.best_val_acc or 0.0, -r.params))


def rung_counts(runs: Sequence[Run], rungs_s: Sequence[float]) -> list[RungCount]:
    return [RungCount(rung=i, budget_s=seconds,
                      finished=sum(1 for r in runs if r.rung == i and r.status in TRAINED_STATUSES),
                      active=sum(1 for r in runs if r.rung == i and r.status in ACTIVE_STATUSES))
            for i, seconds in enumerate(rungs_s)]


def full_config(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The best trial's config at full length: the whole training and test sets, ``epochs``
    epochs, the lab's time budget."""
    out = copy.deepcopy(config)
    out["data"] = {**out.get("data", {}), "train_limit": None, "test_limit": None}
    out["epochs"], out["time_budget_s"] = epochs, settings.TIME_BUDGET_S
    return out


def search_public(session: Session, search: Search, detail: bool = False,
                  trials: list[FrozenTrial] | None = None) -> SearchPublic | SearchDetail:
    """``trials``: the study's, when the caller has read them already."""
    spec = spec_of(search)
    trials = trials_of(search) if trials is None else trials
    every = search_runs(session, search.id)
    runs = own_runs(every)
    promoted: dict[int, list[Run]] = {}
    for r in every:
        if r.trial_number is not None and r.rung:
            promoted.setdefault(r.trial_number, []).append(r)
    public = [trial_public(t, runs.get(t.number), promoted.get(t.number, ()), spec.rungs_s) for t in trials]
    counts = SearchCounts(trials=sum(1 for t in trials if counted(t)), infeasible=search.infeasible)
    for t in public:
        if t.state == TrialState.COMPLETED:
            counts.completed += 1
        elif t.state == TrialState.PRUNED:
            counts.pruned += 1
        elif t.state == TrialState.FAILED:
            counts.failed += 1
        if t.run_status == RunStatus.RUNNING:
            counts.running += 1
        elif t.run_status == RunStatus.QUEUED:
            counts.queued += 1
    done = [t for t in public if t.state == TrialState.COMPLETED and t.run_id is not None and objective(t) is not None]
    best = None
    picked = best_pick(public, done, runs, every, timed=bool(spec.rungs_s))
    if picked is not None:
        top, run = picked
        best = BestTrial(number=top.number, run_id=run.id, rung=run.rung or 0, best_val_acc=run.best_val_acc,
                         test_acc_at_best_val=run.test_acc_at_best_val, best_test_acc=run.best_test_acc,
                         net_params=run.params, macs=run.macs, params=top.params, config=run.config,
                         full_config=full_config(run.config, spec.full_epochs))
    second = OBJECTIVES[spec.objectives[1]].column if len(spec.objectives) > 1 else "params"
    front = pareto([(t.number, objective(t) or 0.0, float((t.net_params if second == "params" else t.macs) or 0))
                    for t in done])
    summary = SearchPublic(
        id=search.id, name=search.name, owner=search.owner.username, status=SearchStatus(search.status),
        note=search.note,
        created_at=search.created_at, finished_at=search.finished_at, objectives=spec.objectives,
        sampler=spec.sampler, pruner=spec.pruner, n_trials=spec.n_trials, max_concurrent=spec.max_concurrent,
        counts=counts, best=best, pareto=front, rungs=rung_counts(every, spec.rungs_s), tags=list(search.tags or []),
        user_note=search.user_note,
        user_note_html=render_note(search.user_note),
        winner=winner.view(session, search),
    )
    if not detail:
        return summary
    return SearchDetail(**summary.__dict__, spec=search.spec, trials=public, param_budget=settings.PARAM_BUDGET)
