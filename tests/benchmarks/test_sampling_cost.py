"""The sampling-cost benchmark's tiny mode, as a command (tests do not import the benchmarks): the
same training run's steps timed with and without the sampler thread, interleaved, written as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT


def test_the_tiny_sampling_cost_benchmark_runs_end_to_end(tmp_path) -> None:
    out = tmp_path / "sampling_cost.json"
    command = [sys.executable, "-m", "benchmarks.sampling_cost", "--tiny", "--device", "cpu", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"] and report["tiny"] is True and report["device"] == "cpu"
    names = ["reference_without", "with_sampler"]
    assert list(report["median_step_ms"]) == names and all(v > 0 for v in report["median_step_ms"].values())
    assert all(report["steps_timed"][n] >= 2 and len(report["step_ms"][n]) == report["steps_timed"][n]
               for n in names)
    # both variants took turns: as many steps of each, within a segment
    assert abs(report["steps_timed"]["reference_without"] - report["steps_timed"]["with_sampler"]) <= 2 * 6
    assert report["samples_taken"] > 0  # the sampler sampled while its segments' steps ran
    ratio = report["median_step_ms"]["with_sampler"] / report["median_step_ms"]["reference_without"]
    assert abs(report["ratio_with_over_reference"] - ratio) < 1e-3  # the medians it is read from are rounded
    assert report["lab_interval_s"] == 2.0 and report["overhead_at_lab_rate"] is not None
    assert "x the reference" in done.stdout
