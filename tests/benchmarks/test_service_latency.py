"""The service-latency benchmark's tiny mode, as a command (tests do not import the benchmarks):
200 runs x 20 epochs seeded on real PostgreSQL, the real backend process, a worker's epochs sent
with the claim's lease, and headless Chromium; every figure is measured, with its ratio against
the reference measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT, port_open, require, require_redis

FIGURES_MS = ("list_ms", "list_sorted_by_headline_ms", "list_filtered_ms", "compare_ms",
              "reference_naive_aggregate_list_ms", "sse_epoch_to_event_ms", "runs_page_ready_ms", "compare_drawn_ms")


def test_tiny_service_latency_measures_every_figure_against_its_reference(tmp_path) -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    require_redis()  # the backend queues the probe run on the broker
    out = tmp_path / "service_latency.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.service_latency", "--tiny", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["tiny"] is True and result["machine"]
    assert (result["runs"], result["epochs_per_run"]) == (200, 20)
    assert (result["compare_runs"], result["drawn_runs"]) == (100, 20)
    assert result["seed_seconds"] >= 0
    for name in FIGURES_MS:
        assert isinstance(result[name], float) and result[name] > 0, (name, result)
    ratio = result["reference_naive_aggregate_list_ms"] / result["list_sorted_by_headline_ms"]
    assert result["ratio_naive_over_list"] == ratio
    assert f"ratio_naive_over_list: {ratio:.1f}" in done.stdout
