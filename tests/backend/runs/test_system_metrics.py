"""System metrics: the downsampling that keeps a run's samples bounded (a pure function), the
heartbeat that carries them (bounded like epochs, stored only under the run's lease), the route that
reads them, and a run's epochs as CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import SystemSample
from backend.runs.protocol import MAX_CPU_CORES, MAX_MEMORY_BYTES, MAX_SAMPLES_PER_HEARTBEAT, SAMPLE_MARGIN_S
from backend.runs.system import CSV_COLUMNS, DOWNSAMPLE_TO, MAX_SAMPLES_PER_RUN, Sample, downsample, merge
from tests.utils.factories import metric, tiny_config


# --- the downsampling, a pure function -------------------------------------------------------
def series(n: int, step: float = 2.0) -> list[Sample]:
    """A run's samples: a CPU use that climbs then falls (a tent), memory that grows, one GPU spike."""
    return [Sample(at_s=i * step, cpu_percent=100.0 * min(i, n - i) / n, rss_bytes=1000 + i, gpu_util=50.0,
                   gpu_mem_bytes=5_000 if i == n // 3 else 100, images_per_s=400.0) for i in range(n)]


def test_a_series_within_the_bound_is_kept_as_it_is() -> None:
    rows = series(50)
    assert downsample(list(reversed(rows)), 50) == rows  # in time order


@pytest.mark.parametrize(("n", "bound"), [(1001, 1000), (1800, 1000), (5000, 750), (10, 3), (7, 4)])
def test_the_bound_is_respected_and_the_first_and_last_samples_kept(n: int, bound: int) -> None:
    rows = series(n)
    kept = downsample(rows, bound)
    assert len(kept) == bound
    assert kept[0] == rows[0] and kept[-1] == rows[-1]
    assert [s.at_s for s in kept] == sorted(s.at_s for s in kept)


def test_the_shape_of_a_long_run_is_kept_at_an_even_resolution() -> None:
    rows = series(1800)  # an hour at one sample every 2 s
    kept = downsample(rows, 750)
    gaps = [b.at_s - a.at_s for a, b in zip(kept[1:-1], kept[2:-1], strict=False)]
    assert max(gaps) <= 3 * min(gaps)  # no stretch of the run thinned far more than another
    # every quarter of the hour keeps samples: at worst half as many as another (the older ones are
    # merged a level further first)
    quarters = [sum(1 for s in kept if q * 900 <= s.at_s < (q + 1) * 900) for q in range(4)]
    assert min(quarters) >= max(quarters) / 2 - 1
    # the tent's peak and the memory's peak survive: memory merges keep the maximum
    assert max(s.cpu_percent for s in kept) == pytest.approx(50.0, abs=1.0)
    assert max(s.gpu_mem_bytes for s in kept) == 5_000
    assert max(s.rss_bytes for s in kept) == rows[-1].rss_bytes
    # every other figure is a mean of the originals: still inside their range
    assert all(s.images_per_s == 400.0 and s.gpu_util == 50.0 for s in kept)


def test_downsampling_again_keeps_the_bound() -> None:
    rows = series(1200)
    once = downsample(rows, DOWNSAMPLE_TO)
    more = once + [Sample(at_s=2400.0 + 2 * i, cpu_percent=10.0) for i in range(400)]
    twice = downsample(more, DOWNSAMPLE_TO)
    assert len(twice) == DOWNSAMPLE_TO and twice[0] == rows[0] and twice[-1] == more[-1]


def test_a_merge_averages_and_keeps_the_memory_peak() -> None:
    a = Sample(at_s=2.0, cpu_percent=100.0, rss_bytes=10, gpu_util=None, gpu_mem_bytes=7, images_per_s=300.0)
    b = Sample(at_s=4.0, cpu_percent=50.0, rss_bytes=30, gpu_util=None, gpu_mem_bytes=3, images_per_s=None)
    assert merge(a, b) == Sample(at_s=3.0, cpu_percent=75.0, rss_bytes=30, gpu_util=None, gpu_mem_bytes=7,
                                 images_per_s=300.0)


def test_a_bound_under_three_is_refused() -> None:
    with pytest.raises(ValueError, match="bound"):
        downsample(series(10), 2)


# --- the heartbeat that carries them ---------------------------------------------------------
def claimed(client, epochs: int = 3) -> int:
    run = client.post("/api/runs", json={"config": tiny_config(epochs=epochs)}).json()
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    return int(run["id"])


def sample(at_s: float, **over: Any) -> dict[str, Any]:
    return {"at_s": at_s, "cpu_percent": 97.5, "rss_bytes": 512 * 2**20, "gpu_util": None, "gpu_mem_bytes": None,
            "images_per_s": 410.25, **over}


def beat(client, run_id: int, samples: list[dict[str, Any]], **headers: str):
    return client.post(f"/api/worker/runs/{run_id}/heartbeat", json={"attempt": 1, "system": samples},
                       headers=headers or None)


def stored(run_id: int) -> list[SystemSample]:
    with SessionLocal() as session:
        return list(session.query(SystemSample).filter_by(run_id=run_id).order_by(SystemSample.at_s))


def test_samples_sent_with_a_heartbeat_are_stored_and_read_back(client) -> None:
    run_id = claimed(client)
    r = beat(client, run_id, [sample(2.0), sample(4.0, gpu_util=87.5, gpu_mem_bytes=3 * 2**30)])
    assert r.status_code == 200 and r.json()["current"] is True
    assert [s.at_s for s in stored(run_id)] == [2.0, 4.0]
    got = client.get(f"/api/runs/{run_id}/system")
    assert got.status_code == 200
    body = got.json()
    assert body["run_id"] == run_id and body["max_samples"] == MAX_SAMPLES_PER_RUN
    assert body["data"] == [sample(2.0), sample(4.0, gpu_util=87.5, gpu_mem_bytes=3 * 2**30)]
    # a heartbeat without samples stores none, as before
    assert client.post(f"/api/worker/runs/{run_id}/heartbeat", json={"attempt": 1}).status_code == 200
    assert len(stored(run_id)) == 2


def test_a_run_without_samples_reads_an_empty_list(client) -> None:
    run_id = claimed(client)
    assert client.get(f"/api/runs/{run_id}/system").json()["data"] == []
    assert client.get("/api/runs/999999/system").status_code == 404


LIMIT_S = settings.TIME_BUDGET_S + SAMPLE_MARGIN_S


@pytest.mark.parametrize(("field", "value", "words"), [
    ("at_s", -1.0, "greater than or equal to 0"),
    ("at_s", LIMIT_S + 1, f"at most {LIMIT_S:g}"),
    ("cpu_percent", -0.5, "greater than or equal to 0"),
    ("cpu_percent", 100.0 * MAX_CPU_CORES + 1, f"less than or equal to {100 * MAX_CPU_CORES}"),
    ("rss_bytes", MAX_MEMORY_BYTES + 1, f"less than or equal to {MAX_MEMORY_BYTES}"),
    ("rss_bytes", -1, "greater than or equal to 0"),
    ("rss_bytes", 1.5, "integer"),
    ("gpu_util", 100.5, "less than or equal to 100"),
    ("gpu_mem_bytes", MAX_MEMORY_BYTES + 1, f"less than or equal to {MAX_MEMORY_BYTES}"),
    ("images_per_s", 2e9, "less than or equal to"),
    ("cpu_percent", "50", "number"),
])
def test_a_sample_out_of_bounds_is_refused_naming_its_field(client, field: str, value: Any, words: str) -> None:
    run_id = claimed(client)
    r = beat(client, run_id, [sample(2.0), {**sample(4.0), field: value}])
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["field"] == f"system[1].{field}", error
    assert words in error["message"], error
    assert stored(run_id) == []  # nothing of the heartbeat kept


def test_infinite_values_and_unknown_fields_are_refused(client) -> None:
    run_id = claimed(client)
    r = client.post(f"/api/worker/runs/{run_id}/heartbeat", content='{"attempt": 1, "system": [{"at_s": Infinity}]}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"].startswith("system[0].at_s"), r.text
    r = beat(client, run_id, [sample(1.0, temperature=80)])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "system[0].temperature", r.text
    assert stored(run_id) == []


def test_too_many_samples_in_one_heartbeat_are_refused(client) -> None:
    run_id = claimed(client)
    r = beat(client, run_id, [sample(float(i)) for i in range(MAX_SAMPLES_PER_HEARTBEAT + 1)])
    assert r.status_code == 422
    error = r.json()["detail"][0]
    assert error["field"] == "system" and str(MAX_SAMPLES_PER_HEARTBEAT) in error["message"], error
    assert beat(client, run_id, [sample(float(i)) for i in range(MAX_SAMPLES_PER_HEARTBEAT)]).status_code == 200


def test_samples_are_stored_only_under_the_runs_lease(client) -> None:
    run_id = claimed(client)
    r = beat(client, run_id, [sample(2.0)], **{"X-Run-Lease": "not-the-lease"})
    assert r.status_code == 200 and r.json()["current"] is False  # the worker stops: it does not hold the run
    r = beat(client, run_id, [sample(2.0)], Authorization=f"Bearer {client.token}")  # a member is no worker
    assert r.status_code == 403
    assert stored(run_id) == []
    # a finished run's lease holds it no more
    assert beat(client, run_id, [sample(2.0)]).json()["current"] is True
    finish = client.post(f"/api/worker/runs/{run_id}/finish",
                         json={"attempt": 1, "status": "failed", "reason": "test", "elapsed_s": 1.0})
    assert finish.status_code == 204
    assert beat(client, run_id, [sample(4.0)]).json()["current"] is False
    assert [s.at_s for s in stored(run_id)] == [2.0]


def test_a_long_run_is_downsampled_to_the_bound_keeping_its_first_and_last_samples(client) -> None:
    run_id = claimed(client)
    sent = 0
    total = MAX_SAMPLES_PER_RUN + 3 * MAX_SAMPLES_PER_HEARTBEAT  # past the bound: merged
    while sent < total:
        batch = [sample(2.0 * (sent + i), cpu_percent=float((sent + i) % 100))
                 for i in range(MAX_SAMPLES_PER_HEARTBEAT)]
        assert beat(client, run_id, batch).status_code == 200
        sent += len(batch)
    rows = stored(run_id)
    assert len(rows) <= MAX_SAMPLES_PER_RUN
    assert rows[0].at_s == 0.0 and rows[-1].at_s == 2.0 * (sent - 1)
    data = client.get(f"/api/runs/{run_id}/system").json()["data"]
    assert len(data) == len(rows) and [d["at_s"] for d in data] == sorted(d["at_s"] for d in data)


# --- the run's epochs as CSV -----------------------------------------------------------------
def test_the_metrics_csv_has_every_recorded_field_of_every_epoch_unrounded(client) -> None:
    run_id = claimed(client, epochs=3)
    epochs = [metric(1, test_acc=0.123456789012345), metric(2, test_acc=1 / 3), metric(3, test_acc=0.5)]
    epochs[1]["lr"] = 0.012345678901234567
    epochs[2]["fraction"] = 0.4375
    r = client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": epochs})
    assert r.status_code == 204, r.text
    got = client.get(f"/api/runs/{run_id}/metrics.csv")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == f'attachment; filename="run{run_id}-metrics.csv"'
    table = list(csv.reader(io.StringIO(got.text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 1 + len(epochs)
    json_rows = client.get(f"/api/runs/{run_id}/metrics").json()["data"]
    for row, sent, recorded in zip(table[1:], epochs, json_rows, strict=True):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert int(cells["epoch"]) == sent["epoch"]
        for key in CSV_COLUMNS[1:]:
            expected = sent.get(key, 1.0 if key == "fraction" else None)
            assert float(cells[key]) == expected == recorded[key], key  # the same float, not rounded
    assert float(table[2][CSV_COLUMNS.index("test_acc")]) == 1 / 3


def test_the_metrics_csv_of_a_run_without_validation_or_epochs(client) -> None:
    run = client.post("/api/runs", json={"config": tiny_config(epochs=2, data={"holdout": 0})}).json()
    assert client.get(f"/api/runs/{run['id']}/metrics.csv").text == ",".join(CSV_COLUMNS) + "\n"
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    r = client.post(f"/api/worker/runs/{run['id']}/epochs",
                    json={"attempt": 1, "metrics": [metric(1, val_acc=None)]})
    assert r.status_code == 204, r.text
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/runs/{run['id']}/metrics.csv").text)))
    assert rows[0]["val_acc"] == "" and rows[0]["val_loss"] == "" and math.isclose(float(rows[0]["lr"]), 0.1)
    assert client.get("/api/runs/999999/metrics.csv").status_code == 404
