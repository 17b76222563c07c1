"""A real worker process samples its system metrics while it trains and sends them with its
heartbeats: a trained run has them, within their bounds, and its CSV has its epochs."""

from __future__ import annotations

import csv
import io

import pytest

from backend.runs.protocol import SystemSampleIn
from tests.utils.factories import tiny_config

pytestmark = pytest.mark.integration


def test_a_run_trained_by_a_real_worker_has_system_samples(lab) -> None:
    lab.start_worker(CNNLAB_SYSTEM_SAMPLE_INTERVAL_S="0.1")  # the tiny run trains in seconds
    try:
        run = lab.submit(tiny_config(epochs=4, batch_size=4))
        final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=300)
    finally:
        lab.kill_workers()
    assert final["status"] == "succeeded", final
    body = lab.http.get(f"/api/runs/{run['id']}/system").json()
    samples = body["data"]
    assert len(samples) >= 2, body
    for s in samples:
        SystemSampleIn.model_validate(s)  # within the bounds the backend holds reports to
        assert s["gpu_util"] is None and s["gpu_mem_bytes"] is None  # trained on the CPU
        assert s["rss_bytes"] > 0 and s["cpu_percent"] is not None
    times = [s["at_s"] for s in samples]
    assert times == sorted(times)
    assert any(s["images_per_s"] for s in samples)  # the trainer's speed, from its batches
    table = list(csv.DictReader(io.StringIO(lab.http.get(f"/api/runs/{run['id']}/metrics.csv").text)))
    assert [int(r["epoch"]) for r in table] == [1, 2, 3, 4]
    assert [float(r["test_acc"]) for r in table] == [m["test_acc"] for m in lab.metrics(run["id"])]
