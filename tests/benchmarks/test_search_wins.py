"""The search-wins benchmark's tiny mode end to end, as a command (tests do not import the benchmarks):
the rank check's every config at every fidelity, the shipped search's shape run in a private lab (its
best chosen on validation at the highest rung reached), the paired side-by-side, the records; its
summary recomputed here from its records (scipy's correlations, backend.runs.uncertainty's pairing);
a second invocation trains nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scipy import stats  # type: ignore[import-untyped]

from backend.runs.uncertainty import paired
from tests.utils.services import ROOT

SIDES = {"search_best", "compact", "compact_search_recipe"}


def run_tiny(out, *more: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "benchmarks.search_wins", "--tiny", "--out", str(out), *more]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("search_wins") / "search_wins.json"
    first = run_tiny(out)
    return out, first, json.loads(out.read_text())


def test_the_rank_check_trains_every_config_at_every_fidelity_and_correlates_them(tiny) -> None:
    _, _, report = tiny
    fids = list(report["recipe"]["fidelities"])
    assert fids[0] == "proxy" and fids[-1] == f"{report['search']['body']['rungs_s'][-1]:g}s"
    rank = [r for r in report["runs"] if r["part"] == "rank"]
    configs = sorted({r["config"] for r in rank})
    assert len(configs) >= 3 and "compact" in configs  # the warm start, then random draws
    assert sorted((r["config"], r["fidelity"]) for r in rank) == sorted((c, f) for c in configs for f in fids)
    for r in rank:
        assert r["holdout"] == report["recipe"]["holdout"] > 0 and r["selected_on"] == "val"
        if r["fidelity"] == "proxy":  # the old proxy: epochs, on a subset
            assert r["schedule_by"] == "epochs" and r["epochs"] == report["recipe"]["fidelities"]["proxy"]["epochs"]
        else:  # a time rung: annealed to its own budget
            assert r["schedule_by"] == "time_budget" and f"{r['time_budget_s']:g}s" == r["fidelity"]
    score = {(r["config"], r["fidelity"]): r["best_val_acc"] for r in rank}
    table = report["summary"]["rank"]["fidelities"]
    for fid in fids[:-1]:
        xs, ys = [score[c, fid] for c in configs], [score[c, fids[-1]] for c in configs]
        rho = stats.spearmanr(xs, ys).statistic
        assert table[fid]["n"] == len(configs)
        assert table[fid]["spearman"] == pytest.approx(rho) if rho == rho else table[fid]["spearman"] is None
        pick = max(configs, key=lambda c: score[c, fid])
        assert table[fid]["regret"] == pytest.approx(max(ys) - score[table[fid]["pick"], fids[-1]])
        assert score[table[fid]["pick"], fid] == score[pick, fid]


def test_the_search_runs_in_a_lab_and_its_best_is_chosen_on_validation_at_the_top_rung(tiny) -> None:
    _, first, report = tiny
    search = report["search"]
    assert search["status"] in ("completed", "stopped") and search["runs_finished"] >= 2
    finished_rungs = [g["rung"] for g in search["rungs"] if g["finished"]]
    best = search["best"]
    assert best["rung"] == max(finished_rungs)
    top = [r for t in search["trials"] for r in t["rungs"]
           if r["rung"] == best["rung"] and r["best_val_acc"] is not None]
    assert best["best_val_acc"] == max(r["best_val_acc"] for r in top)
    assert best["config"]["data"]["holdout"] > 0 and best["config"]["time_budget_s"] == search["rungs"][best["rung"]][
        "budget_s"]
    assert "Search: " in first.stdout


def test_the_side_by_side_pairs_seeds_on_the_last_epoch_without_a_holdout(tiny) -> None:
    _, first, report = tiny
    sides = [r for r in report["runs"] if r["part"] == "sides"]
    seeds = report["recipe"]["side_seeds"]
    assert sorted((r["config"], r["seed"]) for r in sides) == sorted((s, n) for s in SIDES for n in seeds)
    full = report["search"]["body"]["rungs_s"][-1]
    assert all(r["holdout"] == 0 and r["time_budget_s"] == full and r["schedule_by"] == "time_budget" for r in sides)
    by = {s: {r["seed"]: r["final_test_acc"] for r in sides if r["config"] == s} for s in SIDES}
    summary = report["summary"]["sides"]
    expected = paired(by["search_best"], by["compact"], "search_best", "compact").as_dict()
    assert summary["paired"]["search_best - compact"]["mean_diff"] == pytest.approx(expected["mean_diff"])
    assert summary["paired"]["search_best - compact"]["ci_low"] == pytest.approx(expected["ci_low"])
    assert expected["sentence"] in first.stdout


def test_the_records_train_the_search_pick_not_the_side_that_tested_best(tiny) -> None:
    _, _, report = tiny
    records = [r for r in report["runs"] if r["part"] == "records"]
    assert records and {r["config"] for r in records} == {"search_best"}  # chosen on validation, by the search
    assert all(r["threads"] == 2 and r["holdout"] == 0 for r in records)
    assert set(report["summary"]["records"]) == {f"{r['budget_s']:g}s" for r in records}


def test_a_second_invocation_trains_nothing(tiny) -> None:
    out, _, report = tiny
    again = run_tiny(out)
    assert f"{len(report['runs'])} runs recorded in {out}" in again.stdout
    assert "done " not in again.stdout and json.loads(out.read_text())["runs"] == report["runs"]


def test_a_report_of_another_machine_is_not_resumed_here(tiny) -> None:
    """Every run is time-budgeted: a faster CPU reaches more epochs, so runs of two machines never mix."""
    out, _, report = tiny
    text = out.read_text()
    other = "Some Other CPU (family 6 model 207, amx_bf16)"
    out.write_text(json.dumps({**json.loads(text), "machine": other}))
    try:
        refused = run_tiny(out, check=False)
        assert refused.returncode != 0
        assert f"holds runs trained on {other}, not on this machine ({report['machine']})" in refused.stderr
        assert json.loads(out.read_text())["runs"] == report["runs"]
    finally:
        out.write_text(text)
