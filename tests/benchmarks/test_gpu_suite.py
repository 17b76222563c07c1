"""The prepared GPU benchmark works before a GPU is at hand: `--device cpu --tiny`, end to end, as a
command (tests do not import the benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT


def test_gpu_suite_runs_on_the_cpu_with_tiny_sizes(tmp_path) -> None:
    out = tmp_path / "suite.json"
    command = [sys.executable, "-m", "benchmarks.gpu_suite", "--device", "cpu", "--tiny", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["device"]["torch"]
    seed = report["seed_run"]
    assert (seed["epochs_planned"], seed["epochs_done"], seed["batch_size"]) == (2, 2, 256)
    assert seed["seconds_for_120_epochs"] > 0 and seed["batch16_120_epochs_extrapolated_s"] > 0
    assert set(report["packing"]) == {"1", "2"}
    assert report["packing"]["2"]["images"] == 2 * report["packing"]["1"]["images"] > 0
    assert report["packing"]["1"]["ratio_vs_one_run"] == 1.0 and report["packing"]["2"]["errors"] == []
    t93 = report["time_to_93"]
    assert t93["epochs_done"] == 1 and 0.0 <= t93["best_test_acc"] <= 1.0 and "seconds_to_93" in t93
    assert f"written to {out}" in done.stdout
