"""The seed-noise benchmark's tiny mode, as a command (tests do not import the benchmarks): it runs
end to end, resumes without training again, and its summary is backend.runs.uncertainty's on its records."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backend.runs.uncertainty import paired, spread
from tests.utils.services import ROOT

CONFIGS = ("compact", "compact_pool_last")
RECORD_FIELDS = {"key", "phase", "config", "seed", "holdout", "selected_on", "best_epoch", "best_val_acc",
                 "test_acc_at_best", "final_test_acc", "best_test_acc", "elapsed_s", "epochs"}


def run_tiny(out) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "benchmarks.seed_noise", "--tiny", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed_noise") / "seed_noise.json"
    first = run_tiny(out)
    return out, first, json.loads(out.read_text())


def test_tiny_run_records_every_run_of_the_plan(tiny) -> None:
    _, _, report = tiny
    assert report["machine"] and report["recipe"]["tiny"] is True
    runs = report["runs"]
    noise = [r for r in runs if r["phase"] == "noise"]
    assert sorted((r["config"], r["seed"]) for r in noise) == [(c, s) for c in CONFIGS for s in (0, 1)]
    assert {r["holdout"] for r in noise} == {report["recipe"]["noise"]["settings"]["data"]["holdout"]} != {0}
    price = [r for r in runs if r["phase"] == "holdout"]
    assert sorted(r["holdout"] for r in price) == sorted(report["recipe"]["holdout_price"]["holdouts"])
    assert {r["seed"] for r in price} == {report["recipe"]["holdout_price"]["seed"]}
    for r in runs:
        assert RECORD_FIELDS <= set(r)
        assert r["selected_on"] == ("val" if r["holdout"] else "test")
        assert 1 <= r["best_epoch"] <= r["epochs"] and 0.0 <= r["test_acc_at_best"] <= r["best_test_acc"] <= 1.0
        assert r["test_acc_at_best"] == r["test_acc_by_epoch"][r["best_epoch"] - 1]
        if r["holdout"]:  # chosen on validation: the chosen epoch has the best validation accuracy
            assert r["best_val_acc"] == max(r["val_acc_by_epoch"])
        else:
            assert r["best_val_acc"] is None
    assert len({r["key"] for r in runs}) == len(runs)


def test_a_second_invocation_resumes_without_training(tiny) -> None:
    out, _, report = tiny
    again = run_tiny(out)
    assert f"{len(report['runs'])} runs recorded in {out}, 0 to run" in again.stdout
    assert "done " not in again.stdout
    assert json.loads(out.read_text())["runs"] == report["runs"]
    assert not (out.parent / "seed_noise.checkpoints").exists()


def test_the_summary_is_backend_uncertainty_on_the_records(tiny) -> None:
    _, first, report = tiny
    runs, summary = report["runs"], report["summary"]
    by = {c: {r["seed"]: r for r in runs if r["phase"] == "noise" and r["config"] == c} for c in CONFIGS}
    for c in CONFIGS:
        for metric in ("best_val_acc", "test_acc_at_best", "final_test_acc", "best_test_acc"):
            expected = spread([by[c][s][metric] for s in sorted(by[c])]).as_dict()
            assert summary["configs"][c][metric] == expected  # the same floats, through JSON unchanged
    for metric in ("test_acc_at_best", "best_val_acc"):
        a = {s: r[metric] for s, r in by["compact_pool_last"].items()}
        b = {s: r[metric] for s, r in by["compact"].items()}
        expected = paired(a, b, "compact_pool_last", "compact").as_dict()
        got = summary["paired"][metric]
        assert {k: got[k] for k in expected} == expected
        crosses = [x - y for x in a.values() for y in b.values()]
        cross = got["single_seed"]["cross"]
        assert cross["pairs"] == len(crosses) == 4
        assert cross["other_winner"] == sum(1 for d in crosses if d * expected["mean_diff"] < 0)
    price = {r["holdout"]: r for r in runs if r["phase"] == "holdout"}
    held, none = max(price), min(price)
    h = summary["holdout_price"]
    assert h["test_acc_at_best_diff"] == price[held]["test_acc_at_best"] - price[none]["test_acc_at_best"]
    assert h["seed_std"] == summary["configs"]["compact"]["test_acc_at_best"]["std"]
    assert summary["paired"]["test_acc_at_best"]["sentence"] in first.stdout
    assert "| `compact` | 2 |" in first.stdout
