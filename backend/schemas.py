"""Request and response bodies (pydantic v2), a family per entity as in the FastAPI template."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from backend.statuses import RunStatus, SelectedOn
from backend.studies.conclusions import CLAIM_KINDS
from backend.training_config import TrainConfig


def as_utc(moment: datetime) -> datetime:
    """Every datetime leaves in UTC with its offset: SQLite hands them back without a zone
    (they were written in UTC), PostgreSQL in the session's zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]

MAX_COMPARE = 100
MAX_REPEATS = 16
MAX_SWEEP_POINTS = 64
OWNER_HELP = "the caller's username, or left out: what you make belongs to you (another name is refused)"


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


class RunDetail(RunPublic):
    config: dict[str, Any]
    cancelled_by: str | None = Field(None, validation_alias=AliasChoices("cancelled_by_name", "cancelled_by"),
                                     description="who asked to cancel it")


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int


class MetricPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, allow_inf_nan=False)

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
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
    """One figure over a group's completed runs (backend.uncertainty.spread)."""

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
    """Group a against group b (backend.uncertainty): every difference is a − b."""

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


class ComparePublic(BaseModel):
    data: list[CompareRun]
    groups: list[CompareGroup] = []


class RunCreated(RunDetail):
    run_ids: list[int] = Field(description="every run made: one, or one per repeat (the body describes the first)")


class ArchitectureSummaryRequest(BaseModel):
    architecture: Any = Field(description="a preset name or a description")


# --- what workers send -----------------------------------------------------------------------


class ClaimRequest(BaseModel):
    host: str = Field(max_length=200)
    device: str = Field(max_length=64)


class ExportClaim(BaseModel):
    lease: str = Field(description="the export's secret: its checkpoint fetch and model upload send it as X-Run-Lease")
    config: dict[str, Any]
    best_epoch: int
    test_acc: float | None


class ModelFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="why the export was not kept")


class ClaimResponse(BaseModel):
    attempt: int  # for ordering only: the lease is what later calls prove the attempt with
    lease: str = Field(description="the secret of this attempt: every later call for it sends it as X-Run-Lease; "
                                   "it appears in no other response")
    config: dict[str, Any]
    resume_epoch: int  # 0: start afresh; else the epoch of the last checkpoint the backend holds


MAX_EPOCHS_PER_REPORT = 100
MAX_CLASSES = 100
MAX_GALLERY = 48
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class EpochIn(BaseModel):
    """One epoch as a worker reports it: accuracies are fractions, the rest finite and ≥ 0 (the
    epoch's upper bound is the run's planned epochs, checked against the run)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    epoch: int = Field(ge=1, le=2**31 - 1)
    train_loss: NonNegative
    train_acc: Fraction
    test_loss: NonNegative
    test_acc: Fraction
    lr: NonNegative
    seconds: NonNegative
    val_loss: NonNegative | None = None
    val_acc: Fraction | None = None
    fraction: float = Field(1.0, gt=0.0, le=1.0, description="of the epoch trained (< 1: cut by the time budget)")


class EpochReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    attempt: int = Field(ge=0, le=2**31 - 1)
    metrics: list[EpochIn] = Field(min_length=1, max_length=MAX_EPOCHS_PER_REPORT)


class MisclassifiedImage(BaseModel):
    index: int = Field(ge=0, le=2**31 - 1)
    true: int = Field(ge=0, le=2**31 - 1)
    pred: int = Field(ge=0, le=2**31 - 1)
    png: str = Field(max_length=16_384, pattern=r"^[A-Za-z0-9+/=]*$", description="base64 PNG")


BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"  # RFC 4648 §4, padded


class TestSample(BaseModel):
    """A test image and its true class (PNG, base64), for trying the model on the run page."""

    model_config = ConfigDict(extra="forbid", strict=True)

    index: int = Field(ge=0, le=2**31 - 1)
    true: int = Field(ge=0, le=MAX_CLASSES)
    png: str = Field(max_length=200_000)


class TestSampleIn(TestSample):
    """A sample as a worker sends it: the PNG in standard, padded base64 (what it stores is read back as stored)."""

    png: str = Field(min_length=4, max_length=200_000, pattern=BASE64, description="base64 PNG")


class ClassReport(BaseModel):
    epoch: int = Field(ge=1)
    classes: list[str] = Field(max_length=1000)
    accuracy: float
    views: str = Field("image", max_length=100, description="the test-time views the predictions averaged")
    per_class_acc: list[float | None]
    confusion: list[list[int]]
    misclassified: list[MisclassifiedImage] = Field(max_length=64)
    samples: list[TestSample] = Field(default_factory=list, max_length=64, exclude_if=lambda v: not v,
                                      description="a fixed random draw of test images, with their classes "
                                                  "(absent from reports made before it existed)")


class ClassReportIn(ClassReport):
    """A class report as a worker sends it: a confusion matrix of exactly classes x classes counts,
    one accuracy (or none) per class, a bounded gallery of small images."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    classes: list[Annotated[str, Field(max_length=100)]] = Field(min_length=1, max_length=MAX_CLASSES)
    accuracy: Fraction
    per_class_acc: list[Fraction | None]
    confusion: list[list[Annotated[int, Field(ge=0, le=2**31 - 1)]]]
    misclassified: list[MisclassifiedImage] = Field(max_length=MAX_GALLERY)
    samples: list[TestSampleIn] = Field(  # type: ignore[assignment]  # the same list, checked as it comes in
        default_factory=list, max_length=64, exclude_if=lambda v: not v,
        description="a fixed random draw of test images, with their classes")

    @model_validator(mode="after")
    def _shapes(self) -> ClassReportIn:
        k = len(self.classes)
        if len(self.per_class_acc) != k:
            raise ValueError(f"per_class_acc: needs one entry per class ({k}), got {len(self.per_class_acc)}")
        if len(self.confusion) != k or any(len(row) != k for row in self.confusion):
            raise ValueError(f"confusion: must be {k} x {k} (classes x classes)")
        for i, image in enumerate(self.misclassified):
            if image.true >= k or image.pred >= k:
                raise ValueError(f"misclassified[{i}]: classes are 0..{k - 1}")
        for i, sample in enumerate(self.samples):
            if sample.true >= k:
                raise ValueError(f"samples[{i}]: classes are 0..{k - 1}")
        return self


class EvaluationReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    attempt: int = Field(ge=0, le=2**31 - 1)
    report: ClassReportIn


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


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    attempt: int = Field(ge=0, le=2**31 - 1)
    progress: Progress | None = None


class HeartbeatResponse(BaseModel):
    status: RunStatus
    cancel_requested: bool
    prune_requested: bool = False  # its search's pruner stopped it: end as pruned
    current: bool  # False once the run has been handed to a newer attempt


class FinishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    attempt: int = Field(ge=0, le=2**31 - 1)
    status: Literal[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT,
                    RunStatus.PRUNED]
    reason: str | None = Field(None, max_length=10_000)
    elapsed_s: float | None = Field(None, ge=0.0)


# --- studies ---------------------------------------------------------------------------------

MAX_STUDY_ENTRIES = 64


STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, strict=True)


class Reference(BaseModel):
    """Figures reported elsewhere (the seed report) that an entry's run is set beside."""

    model_config = STRICT

    label: str = Field("seed", max_length=100)
    params: int | None = Field(None, ge=0)
    macs: int | None = Field(None, ge=0)
    train_acc: float | None = Field(None, ge=0.0, le=1.0)
    test_acc: float | None = Field(None, ge=0.0, le=1.0)
    minutes: float | None = Field(None, ge=0.0)
    epochs: int | None = Field(None, ge=1)


class StudyEntry(BaseModel):
    model_config = STRICT

    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="unique within the study")
    label: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(description="a run config, as POST /api/runs takes it")
    reference: Reference | None = None
    baseline: str | None = Field(None, description="key of the entry this one varies from")
    group: str | None = Field(None, max_length=64, description="entries of one group are ranked together")
    group_value: int | float | Annotated[str, Field(max_length=64)] | None = None
    # studies with repeats (issue 27, item 7): the entry runs this many times, one run group
    repeats: int = Field(1, ge=1, le=MAX_REPEATS,
                         description="runs of this entry per launch, with seeds seed, seed+1, …: one run group")


def _claim_kind(kind: str) -> str:
    if kind not in CLAIM_KINDS:
        raise ValueError(f"Input should be one of {', '.join(repr(k) for k in CLAIM_KINDS)}")
    return kind


class Claim(BaseModel):
    """A statement the report checks against the runs (backend.studies.conclusions).

    keys: two entries [variant, baseline] for raises/lowers/same/more_overfit/narrows_gap and
    [slower, faster] for slower; one for degrades; one or more for overfits_by and beats; none for
    best_in_group, which names a group. expected: an epoch of 120 (overfits_by), an accuracy
    (beats) or a group value (best_in_group)."""

    model_config = STRICT

    kind: Annotated[str, AfterValidator(_claim_kind)] = Field(
        max_length=32, json_schema_extra={"enum": list(CLAIM_KINDS)},
        description="backend.studies.conclusions.CLAIM_KINDS")
    text: str = Field(min_length=1, max_length=500)
    keys: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_STUDY_ENTRIES,
        description="entries it is about; [variant, baseline] for comparisons")
    group: str | None = Field(None, max_length=64)
    expected: int | float | Annotated[str, Field(max_length=64)] | None = Field(
        None, description="an epoch, a group value or an accuracy")


class StudyCreate(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=200)
    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    description: str = Field("", max_length=5000)
    entries: list[StudyEntry] | None = Field(None, max_length=MAX_STUDY_ENTRIES, description="run configs")
    run_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=MAX_STUDY_ENTRIES,
                                      description="or: existing runs, whose configs become the entries "
                                                  "and which become the study's first launch")
    claims: list[Claim] = Field(default_factory=list, max_length=64)


class LaunchCreate(BaseModel):
    model_config = STRICT

    owner: SkipJsonSchema[str | None] = Field(None, min_length=1, max_length=100, description=OWNER_HELP)
    epochs_scale: float = Field(1.0, gt=0.0, le=1.0, description="each entry's epochs x this (and its step_epochs "
                                                                  "and early-stopping patience), at least 1")
    data: dict[str, Any] | None = Field(None, description="overrides of the entries' data fields "
                                                          "(source, train_limit, test_limit)")


class LaunchPublic(BaseModel):
    id: int
    study_id: int
    owner: str
    epochs_scale: float
    data_override: dict[str, Any] | None
    created_at: UTCDateTime
    runs: dict[str, int | None]  # entry key → run id (None: the run was deleted); its first repeat's
    run_ids: dict[str, list[int | None]] = Field(description="entry key → its runs' ids, one per repeat")
    finished: int


class StudyPublic(BaseModel):
    id: int
    slug: str | None
    name: str
    owner: str
    description: str
    entries: list[StudyEntry]
    claims: list[Claim]
    created_at: UTCDateTime
    launches: list[LaunchPublic]


class StudiesPublic(BaseModel):
    data: list[StudyPublic]


# --- identity --------------------------------------------------------------------------------


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Literal["admin", "member"]
    active: bool
    can_sign_in: bool = Field(description="false until the user has a password")
    created_at: UTCDateTime
    last_sign_in_at: UTCDateTime | None


class MePublic(UserPublic):
    via: Literal["token", "session", "local"] = Field(description="how this request proved who it is")
    auth_mode: Literal["local", "required"]


class UserCreate(BaseModel):
    model_config = STRICT

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Literal["admin", "member"] = "member"
    password: str = Field(min_length=8, max_length=256)


class UserUpdate(BaseModel):
    model_config = STRICT

    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Literal["admin", "member"] | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256, description="a new password; ends the "
                                                                                  "user's sessions")


class UsersPublic(BaseModel):
    data: list[UserPublic]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class TokenCreate(BaseModel):
    model_config = STRICT

    label: str = Field(min_length=1, max_length=100)
    expires_days: float | None = Field(None, gt=0, le=3650, description="none: never expires")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["user", "worker"]
    label: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokensPublic(BaseModel):
    data: list[TokenPublic]


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UTCDateTime
    actor: str | None = Field(validation_alias=AliasChoices("actor_name", "actor"))
    action: str
    target_type: str
    target_id: int | None
    summary: str


class AuditList(BaseModel):
    data: list[AuditPublic]
