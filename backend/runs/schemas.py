"""Run, sweep, group and comparison bodies (pydantic v2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from backend.core.fields import OWNER_HELP, UTCDateTime
from backend.core.statuses import CheckpointKind, RunStatus, SelectedOn
from backend.training.config import TrainConfig

MAX_COMPARE = 100
MAX_REPEATS = 16
MAX_SWEEP_POINTS = 64


def next_seeds(seed: int, count: int) -> list[int]:
    """The seeds of ``count`` repeats: seed, seed+1, … (past TrainConfig.seed's bound, from 0 again)."""
    return [(seed + i) % 2**31 for i in range(count)]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, max_length=200, description="defaults to the architecture's name")
    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    config: TrainConfig
    repeats: int = Field(1, ge=1, le=MAX_REPEATS, description=(
        f"train the config this many times (1–{MAX_REPEATS}) with seeds seed, seed+1, … (or `seeds`), as one "
        "group: shown as mean ± spread and compared seed by seed; every run counts against the quotas"))
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        None, min_length=1, max_length=MAX_REPEATS,
        description="the repeats' seeds, distinct, as many as `repeats` (left out: seed, seed+1, …)")

    @field_validator("name", "owner")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_seeds(self) -> RunCreate:
        if self.seeds is not None:
            if len(set(self.seeds)) != len(self.seeds):
                raise ValueError("seeds: must be distinct; a seed repeated would train the same run twice")
            if len(self.seeds) != self.repeats:
                raise ValueError(f"seeds: {len(self.seeds)} seeds for repeats {self.repeats}; give one per repeat")
        return self

    def repeat_seeds(self) -> list[int]:
        """The seed of each repeat: ``seeds``, else the config's seed and the next ones."""
        if self.seeds is not None:
            return list(self.seeds)
        return next_seeds(self.config.seed, self.repeats)


class Progress(BaseModel):
    """Where a running run is inside its epoch, as of its last heartbeat."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    epoch: int = Field(ge=1, le=2**31 - 1)
    batch: int = Field(ge=0, le=2**31 - 1, description="batches done in this epoch")
    batches: int = Field(ge=1, le=2**31 - 1, description="batches per epoch")
    images_per_s: float = Field(ge=0.0, le=1e9, description="training images per second in this epoch so far")

    @model_validator(mode="after")
    def _batch_within_the_epoch(self) -> Progress:
        if self.batch > self.batches:
            raise ValueError(f"batch: {self.batch} is over batches ({self.batches}), the batches per epoch")
        return self


class QueuePlace(BaseModel):
    """A queued run's place in the queue and when it should start and finish (backend.runs.queue_eta
    states the rule); seconds from the moment it was read."""

    position: int = Field(description="1: the next run a free worker takes")
    ahead: int = Field(description="queued runs before it")
    eta_start_s: float | None = Field(description="seconds until it should start (None: no worker is up)")
    eta_finish_s: float | None = Field(description="seconds until it should finish (None: no worker is up)")
    workers_up: int = Field(description="workers up now (GET /api/workers)")


class RunOrigin(BaseModel):
    """What made a run: a search (its trial), a sweep, or a study's launch."""

    kind: Literal["search", "sweep", "study"]
    id: int
    name: str


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner: str = Field(validation_alias=AliasChoices("owner_name", "owner"), description="the owner's username")
    status: RunStatus
    architecture: str
    params: int
    macs: int
    seed: int
    epochs: int
    sweep_id: int | None
    search_id: int | None = Field(None, description="the search whose trial this run is")
    trial_number: int | None = Field(None, description="its trial's number in that search (from 0)")
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None
    attempt: int
    cancel_requested: bool
    worker_host: str | None
    device: str | None
    reason: str | None
    elapsed_s: float | None
    epochs_done: int
    group_id: int | None = Field(None, description="the group of repeats (one config, several seeds) it belongs to")
    holdout: int = Field(0, description="validation images held out of its training set (0: none)")
    selected_on: SelectedOn = Field(SelectedOn.TEST, description=(
        "what chose best_epoch (its checkpoint, exported model, early stop, rankings): 'val' — the held-out "
        "validation images; 'test' — the test set itself (runs without a holdout, and all runs from before it "
        "existed): then every figure chosen by it is optimistic"))
    test_acc_at_best_val: float | None = Field(None, description=(
        "the headline: test accuracy of the weights of best_epoch (chosen on validation when selected_on is 'val')"))
    best_val_acc: float | None = Field(None, description="validation accuracy of best_epoch (None without a holdout)")
    final_test_acc: float | None = Field(None, description="test accuracy of the last recorded epoch")
    best_test_acc: float | None = Field(description=(
        "the maximum over epochs of test accuracy — 'best test (chosen on test)': optimistic, shown for reference, "
        "never the basis of a choice"))
    best_epoch: int | None = Field(description="the chosen epoch: the best validation accuracy (see selected_on)")
    last_train_loss: float | None
    last_train_acc: float | None
    last_test_loss: float | None
    last_test_acc: float | None
    last_lr: float | None
    train_seconds: float
    train_test_gap: float | None = None
    progress: Progress | None = Field(None, description="a running run's place in its epoch (last heartbeat)")
    queue: QueuePlace | None = Field(None, description="a queued run's place in the queue and its ETA (else None)")
    tags: list[str] = Field(default_factory=list, description="its tags, sorted (PATCH /api/runs/{id} sets them)")
    stars: int = Field(0, description="how many members starred it")
    starred: bool | None = Field(None, description=(
        "whether the caller starred it; null in the event streams' summaries, which every viewer shares "
        "(keep the value you have)"))
    origin: RunOrigin | None = Field(None, description=(
        "the runs list: what made it (its search, sweep, or the study that launched it), null for a run made alone"))
    values: dict[str, Any] | None = Field(None, description=(
        "the runs list's chosen columns (?columns=lr,augment.cutout): column → its value for this run"))


class RunDetail(RunPublic):
    config: dict[str, Any]
    cancelled_by: str | None = Field(None, validation_alias=AliasChoices("cancelled_by_name", "cancelled_by"),
                                     description="who asked to cancel it")
    # what the run's page may ask for: only artefacts that exist (no request that can only 404)
    has_evaluation: bool = Field(False, description="its class report exists (GET /api/runs/{id}/evaluation)")
    kept_checkpoints: list[CheckpointKind] = Field(
        default_factory=list, description="the checkpoints it keeps (GET /api/runs/{id}/checkpoints/{kind})")
    checkpoints_removed: str | None = Field(None, description="why it keeps none any more: the lab's retention "
                                                              "removed them (backend.storage), and when")
    note: str | None = Field(None, description="the owner's note, Markdown as written")
    note_html: str = Field("", description="the note rendered as text formatting only (no raw HTML, no images)")
    config_view: list[ConfigGroup] = Field(default_factory=list, description=(
        "every option of its config as dotted path = value, by the option's group"))
    cli_command: str = Field("", description="the client's command that launches the same config (cnnlab_client)")


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int


class MetricPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, allow_inf_nan=False)

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float | None = Field(description="None: the run reads the test set only at its end "
                                                "(test_each_epoch off), with its chosen weights")
    test_acc: float | None
    lr: float
    seconds: float
    val_loss: float | None = None
    val_acc: float | None = None
    fraction: float = Field(1.0, description="of the epoch trained: < 1 for the epoch the time budget cut")


class MetricsPublic(BaseModel):
    run_id: int
    status: RunStatus
    data: list[MetricPublic]


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    base_config: dict[str, Any] = Field(description="a run config; grid values override its fields")
    grid: dict[str, list[Any]] = Field(
        description="dotted config field → values, e.g. {'batch_size': [4, 8, 16, 32]}; one run per point"
    )
    repeats: int = Field(1, ge=1, le=MAX_REPEATS, description=(
        "runs per grid point, with seeds seed, seed+1, …: each point's runs form a group"))


class SweepPublic(BaseModel):
    id: int
    name: str
    owner: str
    base_config: dict[str, Any]
    grid: dict[str, list[Any]]
    repeats: int = 1
    created_at: UTCDateTime
    runs: list[RunPublic]
    tags: list[str] = Field(default_factory=list)
    note: str | None = Field(None, description="the owner's note, Markdown as written")
    note_html: str = Field("", description="the note rendered as text formatting only")


class SweepSummary(BaseModel):
    """A sweep as the list of sweeps shows it: what it varies, how many points and runs, how far they got."""

    id: int
    name: str
    owner: str = Field(description="the owner's username")
    grid: dict[str, list[Any]]
    repeats: int
    points: int = Field(description="grid points: the product of the grid's value counts")
    runs: int = Field(description="its runs now (points × repeats, less any deleted since)")
    statuses: dict[str, int] = Field(description="its runs by status (only the statuses it has)")
    created_at: UTCDateTime


class SweepsPublic(BaseModel):
    data: list[SweepSummary]
    count: int = Field(description="every sweep the filter matches (data is one page of them)")


class PointEstimate(BaseModel):
    """The cost of one grid point: each of its runs ends at its planned epochs or its time budget,
    whichever comes first."""

    point: dict[str, Any] = Field(description="the grid's values at this point")
    label: str
    runs: int = Field(description="its runs (the sweep's repeats)")
    epochs: int
    time_budget_s: float
    epoch_s: float | None = Field(description=(
        "seconds an epoch took, the median of the lab's recent runs of the same network (parameters and MACs), "
        "batch size and training data; None when none has recorded an epoch"))
    measured_runs: int = Field(description="how many recent runs epoch_s is the median of")
    basis: Literal["measured", "time_budget"] = Field(description=(
        "measured: min(epochs × epoch_s, time budget) a run; time_budget: the time budget a run, the most it may take"))
    run_s: float = Field(description="seconds a run, on that basis")
    seconds: float = Field(description="run_s × runs")
    note: str = Field(description="the basis in words")


class SweepEstimate(BaseModel):
    """What a sweep would cost, before it is launched: nothing is stored or queued."""

    points: list[PointEstimate]
    runs: int
    max_runs: int = Field(description="the most runs one sweep may make (points × repeats)")
    seconds: float = Field(description="the points' seconds, summed")
    hours: float = Field(description="seconds / 3600")
    summary: str = Field(description="e.g. '3 runs, about 0.75 GPU-hours at most'")


class Series(BaseModel):
    """One run's metric series, columnar: compact for 100 runs x 200 epochs."""

    epoch: list[int]
    train_loss: list[float]
    train_acc: list[float]
    test_loss: list[float]
    test_acc: list[float]
    lr: list[float]
    seconds: list[float]
    val_loss: list[float | None]
    val_acc: list[float | None]
    fraction: list[float]


class CompareRun(BaseModel):
    run: RunPublic
    series: Series


class SpreadPublic(BaseModel):
    """One figure over a group's completed runs (backend.runs.uncertainty.spread)."""

    n: int
    mean: float | None
    std: float | None = Field(description="sample standard deviation (n - 1); None with fewer than 2 runs")
    sem: float | None
    ci_low: float | None = Field(description="95% confidence interval of the mean (Student t); None below 2 runs")
    ci_high: float | None


class GroupSummary(BaseModel):
    n: int = Field(description="completed runs (succeeded or timed out): the ones summarised")
    runs: int
    pending: int = Field(description="runs still queued or running")
    incomplete: int = Field(description="failed, cancelled or pruned runs: left out of every figure")
    seeds: list[int]
    selected_on: SelectedOn
    figures: dict[str, SpreadPublic] = Field(description=(
        "test_acc_at_best_val (the headline), best_val_acc, final_test_acc, best_test_acc (chosen on test: "
        "reference only), train_seconds"))


class GroupPublic(BaseModel):
    id: int
    name: str
    owner: str
    seeds: list[int] = Field(description="the seeds asked for, in order")
    created_at: UTCDateTime
    summary: GroupSummary
    run_ids: list[int]


class GroupsPublic(BaseModel):
    data: list[GroupPublic]


class GroupSeries(BaseModel):
    """A group's curves: per epoch, the runs that recorded it, the mean and the sample std."""

    epoch: list[int]
    n: list[int]
    train_acc_mean: list[float | None]
    train_acc_std: list[float | None]
    test_acc_mean: list[float | None]
    test_acc_std: list[float | None]
    val_acc_mean: list[float | None]
    val_acc_std: list[float | None]


class CompareGroup(BaseModel):
    group: GroupPublic
    architecture: str
    params: int
    macs: int
    series: GroupSeries


class ComparisonPublic(BaseModel):
    """Group a against group b (backend.runs.uncertainty): every difference is a − b."""

    method: Literal["paired", "welch"]
    a_label: str
    b_label: str
    n_a: int
    n_b: int
    seeds: list[int] = Field(description="paired: the shared seeds compared")
    differences: list[float] = Field(description="paired: a − b per shared seed, in seed order")
    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    df: float | None
    verdict: Literal["a_better", "b_better", "no_difference", "too_few"]
    seeds_needed: int | None = Field(description="about how many seeds would resolve `resolution`")
    resolution: float
    sentence: str


class GroupComparison(BaseModel):
    a: GroupPublic
    b: GroupPublic
    figure: str = Field(description="what was compared: the headline, test_acc_at_best_val")
    comparison: ComparisonPublic
    validation: ComparisonPublic | None = Field(description="the same on best_val_acc, when both chose on validation")


class ConfigValue(BaseModel):
    path: str = Field(description="the option's dotted path, e.g. augment.cutout")
    value: Any


class ConfigGroup(BaseModel):
    group: str = Field(description="the options' group (architecture, optimisation, …; other: not a declared option)")
    options: list[ConfigValue]


class ConfigOption(BaseModel):
    """One option of the compared runs' configs."""

    path: str = Field(description="dotted path, e.g. architecture.stages")
    values: list[Any] = Field(description="its value in each run, in the runs' order (null where missing)")
    missing: list[int] = Field(default_factory=list, description="indexes of the runs whose config lacks it")
    differs: bool


class ConfigDiff(BaseModel):
    """The options of the runs' configs, flattened to dotted paths (backend.runs.configs.config_diff)."""

    run_ids: list[int] = Field(description="the columns, in order")
    options: list[ConfigOption] = Field(description="every option, in config order; `differs` marks the diff")
    differing: int = Field(description="options whose value is not the same in all runs")
    same: int = Field(description="options with the same value in all runs")


class ComparePublic(BaseModel):
    data: list[CompareRun]
    groups: list[CompareGroup] = []
    config_diff: ConfigDiff | None = Field(None, description="the runs' configs side by side (not the groups')")


class RunCreated(RunDetail):
    run_ids: list[int] = Field(description="every run made: one, or one per repeat (the body describes the first)")


class RunAnalysis(BaseModel):
    """The chosen epoch and where overfitting starts, both read on ``selected_on``'s accuracy."""

    best_epoch: int | None = Field(description="the epoch chosen on selected_on's accuracy")
    overfit_epoch: int | None = Field(description="the epoch from which the run overfits (none: it does not)")
    selected_on: SelectedOn = Field(description="val: validation accuracy (the run holds out images); else test")
