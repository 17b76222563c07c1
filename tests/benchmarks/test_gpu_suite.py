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
    search = report["search"]  # the GPU search's shape, packed two slots on the CPU
    assert (search["preset"], search["slots"], search["asked"]) == ("gpu_wide", 2, search["n_trials"])
    rungs_s = search["rungs_s"]
    assert rungs_s == sorted(rungs_s) and len(rungs_s) == 3 and search["promotions_skipped"] == 0
    runs = [r for r in search["runs"] if "skipped" not in r]
    assert all(r["stop_reason"] == "time_budget" and r["budget_s"] == rungs_s[r["rung"]] for r in runs)
    assert all(r["best_test_acc"] is None and 0.0 <= r["test_acc"] <= 1.0 for r in runs)  # test read once, at the end
    first = {r["trial"]: r for r in runs if r["rung"] == 0}
    assert len(first) == search["n_trials"]
    for r in runs:
        if r["rung"] > 0:  # a promotion: a fresh run, started after its trial's run one rung below had ended
            below = next(b for b in runs if b["trial"] == r["trial"] and b["rung"] == r["rung"] - 1)
            assert r["started_s"] >= below["ended_s"] and below["val_acc"] is not None
    counts = [g["runs"] for g in search["rungs"]]
    assert counts[0] == search["n_trials"] and 0 < counts[2] <= counts[1] < counts[0], counts
    top = [r for r in runs if r["rung"] == 2]
    best = search["best"]  # chosen on validation among the highest rung's runs
    assert best["rung"] == 2 and best["val_acc"] == max(r["val_acc"] for r in top)
    assert best["test_acc_read_once"] == next(r["test_acc"] for r in top if r["trial"] == best["trial"])
    assert search["told"] == search["n_trials"] and search["scale"] == 1.0  # Optuna told every trial's first rung
    assert f"written to {out}" in done.stdout


def test_a_budget_shorter_than_the_gpu_search_plan_shrinks_it_and_never_lengthens_a_rung() -> None:
    from benchmarks.gpu_search import PLAN_SHARE, fitted, plan_seconds, preset_body

    body = preset_body(tiny=False)
    rungs = [float(r) for r in body["rungs_s"]]
    whole = plan_seconds(body["n_trials"], rungs, body["promote_fraction"], 8)
    assert fitted(body, whole / PLAN_SHARE, 8) == (body["n_trials"], rungs, 1.0)  # it fits: the preset itself
    for cap in (whole / PLAN_SHARE * 0.9, 1500.0, 1000.0, 457.0, 60.0):
        n, scaled, scale = fitted(body, cap, 8)
        assert n % 8 == 0 and 16 <= n < body["n_trials"] and 0 < scale <= 1.0, (cap, n, scale)
        assert scaled == sorted(scaled) and all(s <= r for s, r in zip(scaled, rungs, strict=True))
        assert plan_seconds(n, scaled, body["promote_fraction"], 8) <= PLAN_SHARE * cap + 1.0
    assert fitted(body, 1500.0, 8)[2] == 1.0  # whole waves at the preset's rungs fit before anything is scaled
    assert fitted(body, 457.0, 8)[:1] == (16,) and fitted(body, 457.0, 8)[2] < 0.5
