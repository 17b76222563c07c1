"""A run's system metrics (CPU, memory, GPU, images/s), as its worker reports them with heartbeats,
kept compactly: at most MAX_SAMPLES_PER_RUN rows per run. Beyond it the closest neighbours are
merged (``downsample``, a pure function), so an hour-long run keeps its whole shape at an even
resolution. Also the run's epochs as CSV."""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Sequence
from dataclasses import dataclass, fields

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.core.tables import EpochMetric, SystemSample
from backend.runs.protocol import SystemSampleIn

MAX_SAMPLES_PER_RUN = 1000
# over the bound, a run's samples are merged down to this many at once: one rewrite per few hundred
# samples, not one per heartbeat
DOWNSAMPLE_TO = 750


@dataclass(frozen=True)
class Sample:
    at_s: float
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    gpu_util: float | None = None
    gpu_mem_bytes: int | None = None
    images_per_s: float | None = None


SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))


def _mean(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return (a + b) / 2


def _peak(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def merge(a: Sample, b: Sample) -> Sample:
    """Two neighbouring samples as one: the mean of their time, CPU, GPU utilisation and images/s;
    the peak of their memory (what would run out)."""
    return Sample(at_s=(a.at_s + b.at_s) / 2, cpu_percent=_mean(a.cpu_percent, b.cpu_percent),
                  rss_bytes=_peak(a.rss_bytes, b.rss_bytes), gpu_util=_mean(a.gpu_util, b.gpu_util),
                  gpu_mem_bytes=_peak(a.gpu_mem_bytes, b.gpu_mem_bytes),
                  images_per_s=_mean(a.images_per_s, b.images_per_s))


def downsample(samples: Sequence[Sample], bound: int) -> list[Sample]:
    """At most ``bound`` samples (≥ 3), in time order: while there are more, the two neighbours
    closest in time are merged (``merge``; of equal gaps, the older pair), never the first sample nor
    the last. Merging where the series is densest keeps its resolution even over the whole run."""
    if bound < 3:
        raise ValueError(f"bound: at least 3 (the first, the last and one merged between), got {bound}")
    rows = sorted(samples, key=lambda s: s.at_s)
    n = len(rows)
    if n <= bound:
        return rows
    kept: list[Sample | None] = list(rows)
    nxt, prv = list(range(1, n + 1)), list(range(-1, n - 1))
    version = [0] * n
    heap: list[tuple[float, int, int, int, int]] = []

    def push(i: int) -> None:  # the pair (i, next of i), if neither end is the first or the last sample
        j = nxt[i]
        if 0 < i and j < n - 1:
            a, b = kept[i], kept[j]
            assert a is not None and b is not None
            heapq.heappush(heap, (b.at_s - a.at_s, i, j, version[i], version[j]))

    for i in range(1, n - 2):
        push(i)
    count = n
    while count > bound and heap:
        _gap, i, j, vi, vj = heapq.heappop(heap)
        if kept[i] is None or kept[j] is None or version[i] != vi or version[j] != vj or nxt[i] != j:
            continue  # a pair changed since it was pushed
        a, b = kept[i], kept[j]
        assert a is not None and b is not None
        kept[i], kept[j] = merge(a, b), None
        version[i] += 1
        nxt[i] = nxt[j]
        prv[nxt[j]] = i
        count -= 1
        push(i)
        if prv[i] >= 0:
            push(prv[i])
    return [s for s in kept if s is not None]


def record(session: Session, run_id: int, samples: Sequence[SystemSampleIn]) -> None:
    """Add a heartbeat's samples to the run's (in the caller's transaction, which holds the run's
    lease); past MAX_SAMPLES_PER_RUN rows the run's series is downsampled to DOWNSAMPLE_TO."""
    if not samples:
        return
    session.add_all(SystemSample(run_id=run_id, **s.model_dump()) for s in samples)
    session.flush()
    count = session.scalar(select(func.count()).select_from(SystemSample).where(SystemSample.run_id == run_id)) or 0
    if count <= MAX_SAMPLES_PER_RUN:
        return
    kept = downsample([as_sample(row) for row in rows_of(session, run_id)], DOWNSAMPLE_TO)
    session.execute(delete(SystemSample).where(SystemSample.run_id == run_id))
    session.add_all(SystemSample(run_id=run_id, **{k: getattr(s, k) for k in SAMPLE_FIELDS}) for s in kept)
    session.flush()


def rows_of(session: Session, run_id: int) -> Sequence[SystemSample]:
    return session.scalars(select(SystemSample).where(SystemSample.run_id == run_id)
                           .order_by(SystemSample.at_s, SystemSample.id)).all()


def as_sample(row: SystemSample) -> Sample:
    rss, gpu_mem = row.rss_bytes, row.gpu_mem_bytes
    return Sample(at_s=row.at_s, cpu_percent=row.cpu_percent, rss_bytes=None if rss is None else int(rss),
                  gpu_util=row.gpu_util, gpu_mem_bytes=None if gpu_mem is None else int(gpu_mem),
                  images_per_s=row.images_per_s)


class SystemSamplePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, allow_inf_nan=False)

    at_s: float = Field(description="seconds since the run started training")
    cpu_percent: float | None = Field(description="the worker process's CPU use; 100 = one core busy")
    rss_bytes: int | None = Field(description="the worker process's resident memory")
    gpu_util: float | None = Field(description="the GPU's utilisation in percent (None: no CUDA, or no NVML)")
    gpu_mem_bytes: int | None = Field(description="the GPU's memory in use")
    images_per_s: float | None = Field(description="training images per second in the epoch then")


class SystemSamplesPublic(BaseModel):
    run_id: int
    max_samples: int = Field(MAX_SAMPLES_PER_RUN, description="the most kept per run: older ones are merged beyond")
    data: list[SystemSamplePublic]


# --- the run's epochs as CSV -----------------------------------------------------------------
CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
               "fraction")


def metrics_csv(rows: Sequence[EpochMetric]) -> str:
    """A header row, then one row per epoch with every recorded field; numbers unrounded (repr, so
    they read back as the same floats), an empty cell where there is none (no validation split; no
    test figure in the epochs of a run that reads the test set only at its end)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if (v := getattr(row, c)) is None else repr(v) for c in CSV_COLUMNS])
    return out.getvalue()
