"""What workers send and what they are answered: claims, epochs, heartbeats, evaluations, finishes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.core.settings import settings
from backend.core.statuses import RunStatus
from backend.runs.schemas import Progress


class ClaimRequest(BaseModel):
    host: str = Field(max_length=200)
    device: str = Field(max_length=64)
    worker: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description=(
        "the claiming worker's name, as it says it is up (POST /api/worker/presence): its row then shows this run"))


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
    test_loss: NonNegative | None = Field(description="None only for a run that reads the test set at its end "
                                                      "(config test_each_epoch off)")
    test_acc: Fraction | None
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


MAX_SAMPLES_PER_HEARTBEAT = 64
MAX_CPU_CORES = 1024  # a process's CPU use is counted per core: 100 is one core busy
MAX_MEMORY_BYTES = 2**50
SAMPLE_MARGIN_S = 900.0  # a sample's time may pass the lab's time budget by this much (data loading, evaluation)


class SystemSampleIn(BaseModel):
    """One sample of the worker's system metrics (worker.system_metrics), as it reports it with a
    heartbeat: seconds of the run's training so far, the process's CPU use (percent of one core) and
    resident memory, on CUDA the GPU's utilisation (percent) and memory in use, images per second."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    at_s: float = Field(ge=0.0, description="seconds since the run started training (a resumed attempt goes on)")
    cpu_percent: float | None = Field(None, ge=0.0, le=100.0 * MAX_CPU_CORES, description="100 = one core busy")
    rss_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES, description="the process's resident memory")
    gpu_util: float | None = Field(None, ge=0.0, le=100.0, description="percent; None without CUDA")
    gpu_mem_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES, description="the GPU's memory in use")
    images_per_s: float | None = Field(None, ge=0.0, le=1e9, description="training images per second")

    @field_validator("at_s")
    @classmethod
    def _within_the_budget(cls, value: float) -> float:
        limit = settings.TIME_BUDGET_S + SAMPLE_MARGIN_S
        if value > limit:
            raise ValueError(f"must be at most {limit:g} (the lab's time budget + {SAMPLE_MARGIN_S:g} s), "
                             f"got {value!r}")
        return value


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    attempt: int = Field(ge=0, le=2**31 - 1)
    progress: Progress | None = None
    system: list[SystemSampleIn] = Field(default_factory=list, max_length=MAX_SAMPLES_PER_HEARTBEAT, description=(
        "system metrics sampled since the last heartbeat (stored only for the attempt holding the lease)"))


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
