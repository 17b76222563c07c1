"""The prepared GPU benchmark works before a GPU is at hand: `--device cpu --tiny`, end to end, as a
command (tests do not import the benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT


def test_gpu_suite_runs_on_the_cpu_with_tiny_sizes(tmp_path) -> None:
    out = tmp_path / "suite.json"
    command = [sys.executable, "-m", "benchmarks.gpu_suite", "--device", "cpu", "--tiny", "--budget", "150",
               "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["device"]["torch"] and report["budget_s"] == 150
    seed = report["seed_run"]
    assert (seed["epochs_planned"], seed["epochs_done"], seed["batch_size"]) == (2, 2, 256)
    assert seed["seconds_for_120_epochs"] > 0 and seed["batch16_120_epochs_extrapolated_s"] > 0
    captured = report["captured_step"]
    assert captured["applies"] is False  # the CPU ignores compile_step: the same run twice
    assert captured["eager"]["epochs_done"] >= 1 and captured["captured"]["epochs_done"] >= 1
    packing = report["packing"]
    assert set(packing) == {"1", "2"}
    for n in ("1", "2"):  # each run trained under its time cap (not a number of epochs), counted in one window
        assert packing[n]["errors"] == [] and packing[n]["images_per_s"] > 0, packing[n]
        assert len(packing[n]["per_run_images_per_s"]) == int(n) and packing[n]["threads_per_run"] >= 1
        assert packing[n]["memory_fraction"] is None and packing[n]["max_memory_reserved_gib"] == []  # CPU
    assert packing["1"]["ratio_vs_one_run"] == 1.0 and packing["2"]["ratio_vs_one_run"] > 0
    t93 = report["time_to_93"]
    assert t93["epochs_done"] == 1 and 0.0 <= t93["best_test_acc"] <= 1.0 and "seconds_to_93" in t93
    assert f"written to {out}" in done.stdout
