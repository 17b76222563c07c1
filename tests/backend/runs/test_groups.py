"""Repeats and groups through the API: a run request with repeats makes one group atomically; the
group's spread and the paired / Welch comparison equal scipy's on the same numbers; choices read
validation accuracy; bad requests name the field and the limit and make nothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from backend.core.settings import settings
from tests.utils.factories import metric, tiny_config


def post_repeats(client, seeds: list[int] | None = None, **body) -> dict:
    r = client.post("/api/runs", json={"name": "rep", "config": tiny_config(seed=seeds[0] if seeds else 0),
                                       "repeats": len(seeds) if seeds else 3, **({"seeds": seeds} if seeds else {}),
                                       **body})
    assert r.status_code == 201, r.text
    return r.json()


def finish(client, run_id: int, vals: list[float], tests: list[float], status: str = "succeeded") -> None:
    """What a worker does: claim, report epochs (validation and test accuracies), finish."""
    assert client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    metrics = [metric(e, t, val_acc=v) for e, (v, t) in enumerate(zip(vals, tests, strict=True), 1)]
    r = client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": metrics})
    assert r.status_code == 204, r.text
    r = client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": status})
    assert r.status_code == 204, r.text


def run_count(client) -> int:
    return client.get("/api/runs").json()["count"]


def test_repeats_make_one_group_of_seeds_in_one_step(client) -> None:
    made = post_repeats(client, seeds=None)
    ids = made["run_ids"]
    assert len(ids) == 3 and made["id"] == ids[0] and made["group_id"]
    runs = [client.get(f"/api/runs/{i}").json() for i in ids]
    assert [r["seed"] for r in runs] == [0, 1, 2] and {r["group_id"] for r in runs} == {made["group_id"]}
    assert all(r["selected_on"] == "val" and r["holdout"] == 50 for r in runs)
    assert {k: v for k, v in runs[1]["config"].items() if k != "seed"} == \
        {k: v for k, v in runs[0]["config"].items() if k != "seed"}
    listed = client.get("/api/runs", params={"group": made["group_id"]}).json()
    assert sorted(r["id"] for r in listed["data"]) == ids
    group = client.get("/api/groups", params={"ids": str(made["group_id"])}).json()["data"][0]
    assert group["seeds"] == [0, 1, 2] and group["run_ids"] == ids
    assert group["summary"]["n"] == 0 and group["summary"]["pending"] == 3  # nothing averaged before it trains


def test_a_single_run_has_no_group(client) -> None:
    r = client.post("/api/runs", json={"config": tiny_config()})
    assert r.status_code == 201 and r.json()["group_id"] is None and r.json()["run_ids"] == [r.json()["id"]]


@pytest.mark.parametrize("body, field, words", [
    ({"repeats": 17}, "repeats", "16"),
    ({"repeats": 0}, "repeats", "1"),
    ({"repeats": 3, "seeds": [1, 1, 2]}, "seeds", "distinct"),
    ({"repeats": 3, "seeds": [1, 2]}, "seeds", "2 seeds for repeats 3"),
    ({"repeats": 2, "seeds": [1, 2**31]}, "seeds[1]", "2147483647"),
    ({"config": tiny_config(data={"holdout": 49_991})}, "config.data.holdout", "at most 49,990"),
    ({"config": tiny_config(data={"holdout": 5_000, "train_limit": 46_000})}, "config.data.holdout",
     "at most 4,000"),
    ({"config": tiny_config(data={"holdout_seed": -1})}, "config.data.holdout_seed", "0"),
])
def test_bad_repeats_and_holdouts_name_the_field_and_make_nothing(client, body, field, words) -> None:
    before = run_count(client)
    r = client.post("/api/runs", json={"config": tiny_config(), **body})
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["field"] == field and words in err["message"], err
    assert run_count(client) == before


def test_a_quota_refusal_makes_none_of_the_repeats(client, monkeypatch) -> None:
    monkeypatch.setattr(settings, "MAX_RUNS_PER_REQUEST", 4)
    before = run_count(client)
    r = client.post("/api/runs", json={"config": tiny_config(), "repeats": 5})
    assert r.status_code == 429 and r.json()["detail"][0]["limit"] == 4
    assert run_count(client) == before


def group_of(client, seeds: list[int], vals: list[float], tests: list[float], name: str) -> int:
    made = post_repeats(client, seeds=seeds, name=name)
    for run_id, v, t in zip(made["run_ids"], vals, tests, strict=True):
        finish(client, run_id, [v - 0.1, v], [t - 0.1, t])
    return made["group_id"]


def test_a_group_summary_equals_scipy(client) -> None:
    tests = [0.61, 0.64, 0.60, 0.66]
    gid = group_of(client, [10, 11, 12, 13], [0.62, 0.63, 0.61, 0.65], tests, "summary")
    summary = client.get("/api/groups", params={"ids": str(gid)}).json()["data"][0]["summary"]
    headline = summary["figures"]["test_acc_at_best_val"]
    assert summary["n"] == 4 and summary["selected_on"] == "val"
    assert headline["mean"] == pytest.approx(np.mean(tests))
    assert headline["std"] == pytest.approx(np.std(tests, ddof=1))
    low, high = stats.t.interval(0.95, len(tests) - 1, loc=np.mean(tests), scale=stats.sem(tests))
    assert (headline["ci_low"], headline["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_a_paired_comparison_equals_scipy_and_says_who_wins(client) -> None:
    seeds = [20, 21, 22, 23, 24]
    base = [0.600, 0.612, 0.596, 0.621, 0.605]
    better = [b + d for b, d in zip(base, [0.004, 0.006, 0.003, 0.005, 0.004], strict=True)]
    a = group_of(client, seeds, base, better, "pool_last")  # a's test accuracies: `better`
    b = group_of(client, seeds, base, base, "compact")
    r = client.get("/api/groups/compare", params={"a": a, "b": b})
    assert r.status_code == 200, r.text
    body = r.json()
    cmp = body["comparison"]
    assert cmp["method"] == "paired" and cmp["seeds"] == seeds and cmp["verdict"] == "a_better"
    expected = stats.ttest_rel(better, base)
    low, high = expected.confidence_interval()
    assert cmp["p_value"] == pytest.approx(expected.pvalue)
    assert (cmp["ci_low"], cmp["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert cmp["sentence"].startswith(f"pool_last (group {a}) beats compact (group {b}) by 0.44 pt, 95% CI ")
    assert cmp["sentence"].endswith("5 paired seeds")
    assert body["validation"]["verdict"] == "no_difference" or body["validation"]["mean_diff"] == pytest.approx(0)


def test_a_tie_and_too_few_seeds(client) -> None:
    a = group_of(client, [30, 31, 32], [0.6] * 3, [0.601, 0.598, 0.603], "tie a")
    b = group_of(client, [30, 31, 32], [0.6] * 3, [0.600, 0.601, 0.600], "tie b")
    cmp = client.get("/api/groups/compare", params={"a": a, "b": b}).json()["comparison"]
    assert cmp["verdict"] == "no_difference" and cmp["sentence"].startswith("no difference detected")
    assert cmp["seeds_needed"] and "seeds would resolve 0.2 pt" in cmp["sentence"]
    lone = group_of(client, [30, 99], [0.6, 0.6], [0.62, 0.61], "lone")  # one seed shared with a
    few = client.get("/api/groups/compare", params={"a": a, "b": lone, "method": "paired"}).json()["comparison"]
    assert few["verdict"] == "too_few" and few["seeds"] == [30] and few["ci_low"] is None
    assert few["sentence"].startswith("too few runs to compare")


def test_groups_without_shared_seeds_use_welch_and_say_so(client) -> None:
    ta, tb = [0.70, 0.72, 0.71], [0.60, 0.62, 0.61, 0.63]
    a = group_of(client, [40, 41, 42], [0.7] * 3, ta, "welch a")
    b = group_of(client, [50, 51, 52, 53], [0.6] * 4, tb, "welch b")
    cmp = client.get("/api/groups/compare", params={"a": a, "b": b}).json()["comparison"]
    expected = stats.ttest_ind(ta, tb, equal_var=False)
    assert cmp["method"] == "welch" and cmp["p_value"] == pytest.approx(expected.pvalue)
    assert "Welch" in cmp["sentence"] and "no shared seeds" in cmp["sentence"]
    refused = client.get("/api/groups/compare", params={"a": a, "b": b, "method": "paired"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "method"
    assert "[40, 41, 42]" in refused.json()["detail"][0]["message"]


def test_compare_takes_groups_with_their_mean_curves(client) -> None:
    gid = group_of(client, [60, 61], [0.5, 0.7], [0.4, 0.6], "curves")
    single = post_repeats(client, seeds=[70], name="one")["run_ids"][0]
    body = client.get("/api/compare", params={"ids": str(single), "groups": str(gid)}).json()
    assert [d["run"]["id"] for d in body["data"]] == [single]
    (group,) = body["groups"]
    series = group["series"]
    assert series["epoch"] == [1, 2] and series["n"] == [2, 2]
    assert series["test_acc_mean"] == [pytest.approx(0.4), pytest.approx(0.5)]
    assert series["val_acc_std"][1] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert client.get("/api/compare", params={"groups": "999999"}).status_code == 404
    for params, field in (({"ids": ""}, "ids"), ({"groups": ""}, "groups"), ({"groups": "x"}, "groups")):
        r = client.get("/api/compare", params=params)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, (params, r.text)
    r = client.get("/api/groups", params={"ids": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["message"] == "needs at least one group id"
    assert client.get("/api/compare").json() == {"data": [], "groups": [], "config_diff": None}


def test_a_group_without_a_finished_run_cannot_be_compared(client) -> None:
    waiting = post_repeats(client, seeds=[80, 81])["group_id"]
    done = group_of(client, [80, 81], [0.6, 0.6], [0.6, 0.6], "done")
    r = client.get("/api/groups/compare", params={"a": done, "b": waiting})
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "b"


def test_the_chosen_epoch_reads_validation_and_the_headline_is_its_test_accuracy(client) -> None:
    run = client.post("/api/runs", json={"config": tiny_config(epochs=3)}).json()
    finish(client, run["id"], vals=[0.5, 0.7, 0.6], tests=[0.5, 0.6, 0.8])
    got = client.get(f"/api/runs/{run['id']}").json()
    assert got["best_epoch"] == 2 and got["best_val_acc"] == pytest.approx(0.7)
    assert got["test_acc_at_best_val"] == pytest.approx(0.6) and got["best_test_acc"] == pytest.approx(0.8)
    assert got["final_test_acc"] == pytest.approx(0.8)
    analysis = client.get(f"/api/runs/{run['id']}/analysis").json()
    assert analysis["best_epoch"] == 2 and analysis["selected_on"] == "val"
    r = client.get("/api/runs", params={"sort": "-best_test_acc"})
    assert r.status_code == 422 and "never a ranking" in r.json()["detail"][0]["message"]
    assert client.get("/api/runs", params={"sort": "-test_acc_at_best_val"}).status_code == 200


def test_epochs_must_carry_validation_exactly_when_the_run_holds_out(client) -> None:
    held = client.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    plain = client.post("/api/runs", json={"config": tiny_config(data={"holdout": 0})}).json()
    assert plain["selected_on"] == "test"
    for run_id in (held, plain["id"]):
        assert client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    r = client.post(f"/api/worker/runs/{held}/epochs", json={"attempt": 1, "metrics": [metric(1, val_acc=None)]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "metrics[0].val_acc"
    r = client.post(f"/api/worker/runs/{plain['id']}/epochs", json={"attempt": 1, "metrics": [metric(1)]})
    assert r.status_code == 422 and "no validation images" in r.json()["detail"][0]["message"]
    cut = {**metric(1, val_acc=None), "fraction": 0.25}
    url = f"/api/worker/runs/{plain['id']}/epochs"
    assert client.post(url, json={"attempt": 1, "metrics": [cut]}).status_code == 204
    assert client.get(f"/api/runs/{plain['id']}/metrics").json()["data"][0]["fraction"] == 0.25
    bad = {**metric(2, val_acc=None), "fraction": 0}
    assert client.post(url, json={"attempt": 1, "metrics": [bad]}).status_code == 422


def test_sweep_points_repeat_as_groups(client) -> None:
    r = client.post("/api/sweeps", json={"name": "rep sweep", "base_config": tiny_config(seed=5),
                                         "grid": {"batch_size": [8, 16]}, "repeats": 2})
    assert r.status_code == 201, r.text
    runs = r.json()["runs"]
    assert len(runs) == 4 and r.json()["repeats"] == 2
    by_group: dict[int, list[int]] = {}
    for run in runs:
        by_group.setdefault(run["group_id"], []).append(run["seed"])
    assert sorted(by_group.values()) == [[5, 6], [5, 6]]
    too_many = client.post("/api/sweeps", json={"name": "x", "base_config": tiny_config(),
                                                "grid": {"batch_size": list(range(1, 33))}, "repeats": 3})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "repeats"


def test_a_group_before_any_run_finishes_says_what_its_runs_will_choose_on(client) -> None:
    held = post_repeats(client, seeds=[3, 4])
    summary = client.get("/api/groups", params={"ids": str(held["group_id"])}).json()["data"][0]["summary"]
    assert (summary["n"], summary["pending"], summary["selected_on"]) == (0, 2, "val")
    bare = client.post("/api/runs", json={"name": "rep", "config": tiny_config(seed=5, data={"holdout": 0}),
                                          "repeats": 2}).json()
    summary = client.get("/api/groups", params={"ids": str(bare["group_id"])}).json()["data"][0]["summary"]
    assert (summary["n"], summary["selected_on"]) == (0, "test")


def test_a_study_entry_repeats_past_the_largest_seed_from_0_again_as_a_run_request_does(client) -> None:
    largest = 2**31 - 1
    study = client.post("/api/studies", json={"name": "wrap", "entries": [
        {"key": "rep", "label": "r", "config": tiny_config(seed=largest), "repeats": 3}]})
    assert study.status_code == 201, study.text
    launch = client.post(f"/api/studies/{study.json()['id']}/launches", json={})
    assert launch.status_code == 201, launch.text
    seeds = [client.get(f"/api/runs/{i}").json()["seed"] for i in launch.json()["run_ids"]["rep"]]
    made = client.post("/api/runs", json={"config": tiny_config(seed=largest), "repeats": 3}).json()
    assert seeds == [client.get(f"/api/runs/{i}").json()["seed"] for i in made["run_ids"]] == [largest, 0, 1]
