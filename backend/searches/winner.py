"""Train the winner: the search's best configuration and the lab's best preset, side by side at the
search's full budget on the whole training split, with paired seeds (issue 33).

Both arms train annealed to the same budget (``schedule_by = time_budget``, the epochs only a
ceiling) with no holdout, so they are compared on the **last epoch's** test accuracy: no epoch is
chosen, so the test set chooses nothing. The comparison is backend.runs.uncertainty's, paired by
seed: the mean difference with its 95% CI and the verdict sentence.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.errors import Conflict, NoCommonSeeds
from backend.core.statuses import ACTIVE_STATUSES
from backend.core.tables import Run, Search, User
from backend.runs import admission
from backend.runs import groups as group_service
from backend.runs.group_routes import group_public, load_groups
from backend.runs.schemas import ComparisonPublic, next_seeds
from backend.searches.engine import spec_of
from backend.searches.schemas import BestTrial, SearchCreate, WinnerPublic
from backend.training.config import MAX_EPOCHS, TrainConfig
from backend.training.recipes import PILOT_15MIN

BASELINE_PRESET = "compact"  # the lab's best hand-made preset (benchmarks/RESULTS.md), with the 15-minute recipe
BASELINE_LABEL = f"{BASELINE_PRESET} ({PILOT_15MIN.key} recipe)"
FIGURE = "final_test_acc"  # the last epoch's: annealed to the budget, nothing chosen


def full_budget(spec: SearchCreate) -> float:
    """The budget both arms train to: the search's last time rung, else its trials' own budget."""
    if spec.rungs_s:
        return float(spec.rungs_s[-1])
    return float(TrainConfig.model_validate(spec.base_config).time_budget_s)


def arm_config(config: dict[str, Any], budget_s: float) -> dict[str, Any]:
    """``config`` on the whole training and test sets, planned by and annealed to ``budget_s``."""
    out = copy.deepcopy(config)
    out["data"] = {**out.get("data", {}), "holdout": 0, "train_limit": None, "test_limit": None}
    # no holdout, so the last epoch is the figure and nothing is chosen; the trial's end-only test read
    # (test_each_epoch off) needs a validation split, so the arms draw their test curves again
    out.update(schedule_by="time_budget", time_budget_s=budget_s, epochs=MAX_EPOCHS, early_stopping_patience=None,
               test_each_epoch=True)
    return out


def baseline_config(winner: dict[str, Any], budget_s: float) -> dict[str, Any]:
    """The lab's best preset with the 15-minute recipe, on the winner's device, at the same budget."""
    return arm_config(PILOT_15MIN.config(BASELINE_PRESET, device=winner.get("device", "auto")), budget_s)


def launch(session: Session, search: Search, best: BestTrial, owner: User, seeds: int, name_max: int = 200) -> None:
    """Queue both arms, ``seeds`` paired seeds each (the same seeds), as two groups of repeats tied
    to the search. 409 while an earlier launch still trains."""
    if busy := session.scalar(select(Run.id).where(
            Run.group_id.in_([g for g in (search.winner_group_id, search.baseline_group_id) if g is not None]),
            Run.status.in_(ACTIVE_STATUSES)).limit(1)):
        raise Conflict(f"the winner of search {search.id} is still training (run {busy}); wait for it or cancel it")
    budget = full_budget(spec_of(search))
    winner = admission.checked_config(arm_config(best.config, budget), "best.config")
    baseline = admission.checked_config(baseline_config(best.config, budget), "baseline")
    chosen = next_seeds(winner.seed, seeds)
    planned = [*admission.repeated(winner, chosen, f"{search.name}: winner (trial {best.number})"[:name_max], "winner"),
               *admission.repeated(baseline, chosen, f"{search.name}: {BASELINE_LABEL}"[:name_max], "baseline")]

    def link(_search: Search, runs: list[Run]) -> None:
        search.winner_group_id, search.baseline_group_id = runs[0].group_id, runs[-1].group_id

    admission.admit(session, owner, planned, group=search, link=link)


def view(session: Session, search: Search) -> WinnerPublic | None:
    """The two arms with their summaries, and the paired comparison once they share finished seeds."""
    if search.winner_group_id is None or search.baseline_group_id is None:
        return None
    (wg, wr), (bg, br) = load_groups(session, [search.winner_group_id, search.baseline_group_id])
    comparison = None
    try:
        if group_service.by_seed(wr, FIGURE) and group_service.by_seed(br, FIGURE):
            compared = group_service.compare(wr, br, f"winner (group {wg.id})", f"{BASELINE_LABEL} (group {bg.id})",
                                             "paired", figure=FIGURE)
            comparison = ComparisonPublic.model_validate(compared.as_dict())
    except NoCommonSeeds:
        comparison = None
    budget = next((float(r.config["time_budget_s"]) for r in [*wr, *br]), 0.0)
    return WinnerPublic(budget_s=budget, figure=FIGURE, baseline=BASELINE_LABEL, winner=group_public(wg, wr),
                        baseline_group=group_public(bg, br), comparison=comparison)
