"""Request and response bodies (pydantic v2), a family per entity as in the FastAPI template."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.training_config import TrainConfig

MAX_COMPARE = 100
MAX_SWEEP_POINTS = 64


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, description="defaults to the architecture's name")
    owner: str = Field("anonymous", min_length=1, max_length=100)
    config: TrainConfig

    @field_validator("name", "owner")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner: str
    status: str
    architecture: str
    params: int
    macs: int
    seed: int
    epochs: int
    sweep_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    cancel_requested: bool
    worker_host: str | None
    device: str | None
    reason: str | None
    elapsed_s: float | None
    epochs_done: int
    best_test_acc: float | None
    best_epoch: int | None
    last_train_loss: float | None
    last_train_acc: float | None
    last_test_loss: float | None
    last_test_acc: float | None
    last_lr: float | None
    train_seconds: float
    train_test_gap: float | None = None


class RunDetail(RunPublic):
    config: dict[str, Any]


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


class MetricsPublic(BaseModel):
    run_id: int
    status: str
    data: list[MetricPublic]


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    owner: str = Field("anonymous", min_length=1, max_length=100)
    base_config: dict[str, Any] = Field(description="a run config; grid values override its fields")
    grid: dict[str, list[Any]] = Field(
        description="dotted config field → values, e.g. {'batch_size': [4, 8, 16, 32]}; one run per point"
    )


class SweepPublic(BaseModel):
    id: int
    name: str
    owner: str
    base_config: dict[str, Any]
    grid: dict[str, list[Any]]
    created_at: datetime
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


class CompareRun(BaseModel):
    run: RunPublic
    series: Series


class ComparePublic(BaseModel):
    data: list[CompareRun]


class ArchitectureSummaryRequest(BaseModel):
    architecture: Any = Field(description="a preset name or a description")


# --- what workers send -----------------------------------------------------------------------


class ClaimRequest(BaseModel):
    host: str = Field(max_length=200)
    device: str = Field(max_length=64)


class ClaimResponse(BaseModel):
    attempt: int
    config: dict[str, Any]
    resume_epoch: int  # 0: start afresh; else the epoch of the last checkpoint the backend holds


class EpochReport(BaseModel):
    attempt: int
    metrics: list[MetricPublic]


class MisclassifiedImage(BaseModel):
    index: int = Field(ge=0)
    true: int = Field(ge=0)
    pred: int = Field(ge=0)
    png: str = Field(max_length=200_000, pattern=r"^[A-Za-z0-9+/=]*$", description="base64 PNG")


class ClassReport(BaseModel):
    epoch: int = Field(ge=1)
    classes: list[str] = Field(max_length=1000)
    accuracy: float
    views: str = Field("image", max_length=100, description="the test-time views the predictions averaged")
    per_class_acc: list[float | None]
    confusion: list[list[int]]
    misclassified: list[MisclassifiedImage] = Field(max_length=64)


class EvaluationReport(BaseModel):
    attempt: int
    report: ClassReport


class HeartbeatRequest(BaseModel):
    attempt: int


class HeartbeatResponse(BaseModel):
    status: str
    cancel_requested: bool
    current: bool  # False once the run has been handed to a newer attempt


class FinishRequest(BaseModel):
    attempt: int
    status: Literal["succeeded", "failed", "cancelled", "timed_out"]
    reason: str | None = Field(None, max_length=10_000)
    elapsed_s: float | None = None


# --- studies ---------------------------------------------------------------------------------

MAX_STUDY_ENTRIES = 64


STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


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


class Claim(BaseModel):
    """A statement the report checks against the runs (backend.studies.conclusions).

    keys: two entries [variant, baseline] for raises/lowers/same/more_overfit/narrows_gap and
    [slower, faster] for slower; one for degrades; one or more for overfits_by and beats; none for
    best_in_group, which names a group. expected: an epoch of 120 (overfits_by), an accuracy
    (beats) or a group value (best_in_group)."""

    model_config = STRICT

    kind: Literal["raises", "lowers", "same", "more_overfit", "narrows_gap", "overfits_by", "best_in_group",
                  "degrades", "slower", "beats"]
    text: str = Field(min_length=1, max_length=500)
    keys: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_STUDY_ENTRIES, description="entries it is about; [variant, baseline] for comparisons")
    group: str | None = Field(None, max_length=64)
    expected: int | float | Annotated[str, Field(max_length=64)] | None = Field(
        None, description="an epoch, a group value or an accuracy")


class StudyCreate(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=200)
    owner: str = Field("anonymous", min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    entries: list[StudyEntry] | None = Field(None, max_length=MAX_STUDY_ENTRIES, description="run configs")
    run_ids: list[int] | None = Field(None, max_length=MAX_STUDY_ENTRIES,
                                      description="or: existing runs, whose configs become the entries "
                                                  "and which become the study's first launch")
    claims: list[Claim] = Field(default_factory=list, max_length=64)


class LaunchCreate(BaseModel):
    model_config = STRICT

    owner: str = Field("anonymous", min_length=1, max_length=100)
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
    created_at: datetime
    runs: dict[str, int | None]  # entry key → run id (None: the run was deleted)
    finished: int


class StudyPublic(BaseModel):
    id: int
    slug: str | None
    name: str
    owner: str
    description: str
    entries: list[StudyEntry]
    claims: list[Claim]
    created_at: datetime
    launches: list[LaunchPublic]


class StudiesPublic(BaseModel):
    data: list[StudyPublic]
