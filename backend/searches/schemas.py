"""Bodies of the search API (POST /api/searches and what it answers)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

from backend.core.fields import OWNER_HELP, UTCDateTime
from backend.core.statuses import RunStatus, SearchStatus, TrialState
from backend.runs.schemas import MAX_REPEATS, ComparisonPublic, GroupPublic
from backend.searches.registries import (
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    LEGACY_TEST_OBJECTIVE,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    VAL_OBJECTIVE,
    enum_schema,
    one_of,
)

MAX_SEARCH_TRIALS = 500
MAX_SEARCH_CONCURRENT = 16
MAX_SPACE_KEYS = 40
MAX_INITIAL_POINTS = 16
MAX_RUNGS = 5

# the names of backend.searches.registries, each checked against its registry and published as an enum
Objective = Annotated[str, AfterValidator(one_of(OBJECTIVES)), WithJsonSchema(enum_schema(OBJECTIVES))]
Sampler = Annotated[str, AfterValidator(one_of(SAMPLERS)), WithJsonSchema(enum_schema(SAMPLERS))]
Pruner = Annotated[str, AfterValidator(one_of(PRUNERS)), WithJsonSchema(enum_schema(PRUNERS))]

SPACE_HELP = ('option name (dotted for nested ones, e.g. "augment.cutout", or an architecture knob such as '
              '"architecture.depth") → {"float": [low, high], "log": false, "step": null}, {"int": [low, high], '
              '"step": 1} or {"choice": [...]}; GET /api/searches/space-keys lists the names')


class SearchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    base_config: dict[str, Any] = Field(description="the config every trial starts from (a run's config)")
    space: dict[str, dict[str, Any]] = Field(min_length=1, max_length=MAX_SPACE_KEYS, description=SPACE_HELP)
    objectives: list[Objective] = Field([VAL_OBJECTIVE], min_length=1, max_length=2,
                                        description="validation accuracy first ('maximize val_acc': the held-out "
                                                    "training images of base_config.data.holdout); a second "
                                                    "objective makes the result a Pareto front")
    n_trials: int = Field(24, ge=1, le=MAX_SEARCH_TRIALS, description="trials that train (samples over the "
                                                                      "budget are not counted: they never train)")
    max_concurrent: int = Field(2, ge=1, le=MAX_SEARCH_CONCURRENT, description="trials queued or running at once")
    sampler: Sampler = Field(DEFAULT_SAMPLER, description="tpe (default), random, grid or nsga2 (for two objectives)")
    pruner: Pruner = Field(DEFAULT_PRUNER, description="stops trials whose validation accuracy falls behind, epoch by "
                                                       "epoch")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the sampler's seed")
    pruner_warmup_epochs: int = Field(1, ge=0, le=1000, description="epochs a trial trains before it may be "
                                                                    "pruned (hyperband's minimum resource)")
    pruner_startup_trials: int = Field(3, ge=0, le=MAX_SEARCH_TRIALS,
                                       description="median pruner: trials that finish before it prunes any")
    initial_points: list[dict[str, Any]] = Field([], max_length=MAX_INITIAL_POINTS,
                                                 description="points to try first (space keys → values)")
    full_epochs: int = Field(30, ge=1, le=1000, description='epochs of "Run at full length" for the best config')
    rungs_s: list[Annotated[float, Field(gt=0.0)]] = Field(
        [], max_length=MAX_RUNGS,
        description="time rungs in seconds, increasing, e.g. [150, 450, 900]: every trial trains its config planned "
                    "by the first rung's budget (annealed to it, its epochs only a ceiling); the best promote_fraction "
                    "of each rung's finished trials train again, fresh, at the next rung's budget (successive "
                    "halving). Empty: trials train base_config's epochs (an epoch fidelity)")
    promote_fraction: float = Field(1 / 3, gt=0.0, lt=1.0,
                                    description="with rungs_s: the share of a rung's finished trials promoted to the "
                                                "next rung")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("needs a name")
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str]) -> list[str]:
        if value[0] not in (VAL_OBJECTIVE, LEGACY_TEST_OBJECTIVE):
            raise ValueError(f"the first objective must be '{VAL_OBJECTIVE}'")
        if len(set(value)) != len(value):
            raise ValueError("lists an objective twice")
        return value


class RungRun(BaseModel):
    """One training of a trial's config at one time rung (the first rung's is the trial's own run)."""

    rung: int = Field(description="0 for the first rung")
    budget_s: float = Field(description="the rung's time budget: the run's, annealed to it")
    run_id: int
    run_status: RunStatus
    best_val_acc: float | None = Field(None, description="what ranks it among the rung's runs")
    test_acc_at_best_val: float | None = Field(None, description="reported only, never ranked on")


class RungCount(BaseModel):
    rung: int
    budget_s: float
    finished: int = Field(description="runs of this rung trained to their end (ranked for promotion)")
    active: int = Field(description="runs of this rung queued or running")


class TrialPublic(BaseModel):
    number: int
    state: TrialState
    params: dict[str, Any] = Field(description="the sampled values, by space key")
    values: list[float] | None = Field(None, description="the objectives told to Optuna")
    run_id: int | None
    run_status: RunStatus | None
    net_params: int | None = Field(None, description="the network's trainable parameters")
    macs: int | None
    best_val_acc: float | None = Field(None, description="the objective: validation accuracy of its chosen epoch")
    test_acc_at_best_val: float | None = Field(None, description="test accuracy of that epoch (reported only)")
    best_test_acc: float | None = Field(description="best test (chosen on test): for reference only")
    epochs_done: int | None
    epochs: int | None
    pruned_at: int | None = Field(None, description="the epoch after which it was pruned")
    problem: str | None = Field(None, description="why a sample never trained (over the budget, invalid)")
    rung: int = Field(0, description="time rungs: the highest rung it was promoted to")
    rungs: list[RungRun] = Field([], description="time rungs: its runs, rung by rung (each a fresh run)")


class BestTrial(BaseModel):
    """The trial of the highest validation accuracy (ties: the smaller network); with time rungs, among
    the runs of the highest rung any run has finished."""

    number: int
    run_id: int
    rung: int = Field(0, description="time rungs: the rung of the run it was chosen on")
    best_val_acc: float | None
    test_acc_at_best_val: float | None = Field(description="its test accuracy at the epoch chosen on validation "
                                                      "(a trial's: read once, at its end, with that epoch's weights)")
    best_test_acc: float | None = Field(description="best test (chosen on test): for reference only; None for a "
                                                    "trial, whose epochs are not tested")
    net_params: int
    macs: int
    params: dict[str, Any]
    config: dict[str, Any] = Field(description="the trial's run config")
    full_config: dict[str, Any] = Field(description='"Run at full length": the config on the whole training set '
                                                    "for full_epochs under the lab's time budget")


class SearchCounts(BaseModel):
    trials: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    queued: int = 0
    infeasible: int = 0


class WinnerCreate(BaseModel):
    """"Train the winner": the best configuration and the lab's best preset, ``seeds`` paired seeds each."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seeds: int = Field(3, ge=2, le=MAX_REPEATS, description="paired seeds per side (the same seeds for both)")


class WinnerPublic(BaseModel):
    """The search's best against the lab's best preset, trained side by side with paired seeds at the
    search's full budget on the whole training split; compared on the last epoch's test accuracy
    (annealed to the budget: no epoch is chosen, so the test set chooses nothing)."""

    budget_s: float = Field(description="the budget both sides train to (the search's last rung)")
    figure: str = Field(description="the figure compared: final_test_acc, the last epoch's test accuracy")
    baseline: str = Field(description="the lab's best preset and its recipe")
    winner: GroupPublic
    baseline_group: GroupPublic
    comparison: ComparisonPublic | None = Field(description="winner − baseline, paired by seed; null until both "
                                                            "sides have finished a shared seed")


class SearchPublic(BaseModel):
    id: int
    name: str
    owner: str
    status: SearchStatus
    note: str | None
    created_at: UTCDateTime
    finished_at: UTCDateTime | None
    objectives: list[Objective]
    sampler: Sampler
    pruner: Pruner
    n_trials: int
    max_concurrent: int
    counts: SearchCounts
    best: BestTrial | None
    pareto: list[int] = Field([], description="trial numbers on the Pareto front of the objectives")
    rungs: list[RungCount] = Field([], description="time rungs (rungs_s), first to last: their runs")
    tags: list[str] = Field(default_factory=list)
    user_note: str | None = Field(None, description=(
        "the owner's note, Markdown as written (`note` is the system's: why the search waits or ended early)"))
    user_note_html: str = Field("", description="the owner's note rendered as text formatting only")
    winner: WinnerPublic | None = Field(None, description='"Train the winner": the best against the lab\'s best '
                                        "preset, with paired seeds (null until launched)")


class SearchDetail(SearchPublic):
    spec: dict[str, Any] = Field(description="the search as it was asked for")
    trials: list[TrialPublic]
    param_budget: int


class SearchesPublic(BaseModel):
    data: list[SearchPublic]
    count: int


class SpaceKey(BaseModel):
    key: str
    kind: str
    title: str
    help: str
    minimum: float | None
    maximum: float | None
    choices: list[Any]
    families: list[str]
    knob: bool = Field(description="a search-only architecture knob (it rebuilds the stages)")


class SearchPreset(BaseModel):
    key: str
    title: str
    description: str
    body: dict[str, Any] = Field(description="a POST /api/searches body")



class SearchFigures(BaseModel):
    """The search page's Plotly figures (JSON), by name; a figure that cannot be drawn yet (fewer
    than two trials trained) is left out, and ``notes`` says why."""

    notes: dict[str, str] = Field(description="why a figure is missing, by its name")
    pareto_params: dict[str, Any] | None = Field(None, description="validation accuracy against parameters, the Pareto "
                                                                   "front")
    pareto_macs: dict[str, Any] | None = Field(None, description="validation accuracy against MACs, the Pareto front")
    history: dict[str, Any] | None = Field(None, description="Optuna's optimization history")
    importances: dict[str, Any] | None = Field(None, description="Optuna's parameter importances")
    parallel: dict[str, Any] | None = Field(None, description="Optuna's parallel coordinates")
    intermediate: dict[str, Any] | None = Field(None, description="Optuna's intermediate values")
    pareto_optuna: dict[str, Any] | None = Field(None, description="Optuna's Pareto front (two objectives)")
