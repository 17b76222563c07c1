"""The device check works before a GPU is at hand: staged here (data and wheels), then run in its
CPU mode end to end through its shell wrapper, as the device tool would run it; and a budget too
small for its parts ends them early and still leaves valid JSON. As commands: tests do not import
the benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.utils.services import ROOT

PARTS = ["gpu_tests", "seed_run", "captured_step", "packing", "time_to_93", "search"]


def test_staging_then_the_check_end_to_end_in_cpu_mode(tmp_path) -> None:
    staged, out = tmp_path / "staged", tmp_path / "out"
    stage = subprocess.run([sys.executable, "-m", "benchmarks.stage_device", "--tiny", "--dest", str(staged)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert stage.returncode == 0, stage.stderr[-3000:]
    manifest = json.loads((staged / "manifest.json").read_text())
    assert manifest["data"]["train"] == 256 and manifest["data"]["test"] == 128
    wheels = manifest["wheels"]
    assert wheels["missing"] == [] and len(wheels["wheels"]) == len(wheels["pinned"]) == 9
    assert any(w.startswith("pydantic_core-") and "cp312" in w for w in wheels["wheels"])  # the device's Python
    assert any(w.startswith("optuna-") for w in wheels["wheels"])  # the search part's, which the device lacks
    assert isinstance(manifest["fits"], bool) and manifest["staged_bytes"] == sum(
        p.stat().st_size for p in staged.rglob("*") if p.is_file() and p.name != "manifest.json")

    env = {**os.environ, "PYTHON": sys.executable, "STAGED": str(staged)}
    done = subprocess.run(["bash", "benchmarks/device_check.sh", "--device", "cpu", "--tiny", "--budget", "400",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.startswith("device: ")  # the device line first
    report = json.loads((out / "device_check.json").read_text())
    assert report["device"]["torch"] and report["staged"] == str(staged / "cifar10.npz")
    assert report["staged_decode_matches"] is True  # the parts trained on the staged file, decoded as it was here
    assert list(report["parts"]) == PARTS
    for part in report["parts"].values():  # each part's deadline inside the budget (what one leaves, the next may use)
        assert part["started_at_s"] + part["timeout_s"] <= 400 + 0.1
    tests = report["parts"]["gpu_tests"]
    assert tests["exit_code"] in (0, 5)  # skipped here, or deselected in CI: no CUDA
    assert tests["passed"] == [] and tests["failed"] == []
    for name in PARTS[1:]:
        part = report["parts"][name]
        assert part["exit_code"] == 0 and not part["timed_out"], (name, part)
    results = {name: report["parts"][name]["result"] for name in PARTS[1:]}
    assert results["seed_run"]["epochs_done"] == 2 and results["time_to_93"]["epochs_done"] == 1
    assert results["packing"]["1"]["ratio_vs_one_run"] == 1.0 and results["packing"]["2"]["images_per_s"] > 0
    assert results["search"]["told"] >= 1  # the packed search trained trials and told Optuna
    assert (out / "device_check.log").stat().st_size > 0
    assert not list(out.glob(".part_*"))  # only the JSON and the log come back from the device


def test_a_budget_too_small_ends_the_parts_early_and_still_writes_valid_json(tmp_path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--device", "cpu", "--tiny",
                           "--budget", "8", "--parts", "packing,time_to_93", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "device_check.json").read_text())
    assert report["budget_s"] == 8 and list(report["parts"]) == ["packing", "time_to_93"]
    packing = report["parts"]["packing"]
    # its runs cannot start in the seconds left: killed at its timeout, recorded with their errors,
    # or not started at all when the device line took the budget
    for part in report["parts"].values():
        assert "skipped" in part or part["started_at_s"] + part["timeout_s"] <= 8 + 0.1, part
    if "skipped" not in packing:
        assert packing["timed_out"] or all(n["errors"] for n in packing["result"].values()), packing
