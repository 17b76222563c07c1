""""Train the winner" (issue 33): the search's best and the lab's best preset queued side by side
with the same seeds at the search's full budget on the whole training set, and their paired
comparison on the last epoch's test accuracy (never on a chosen epoch's)."""

from __future__ import annotations

import statistics

import pytest

from backend.training.recipes import PILOT_15MIN
from tests.backend.searches.test_searches import claim, create, queued, train
from tests.utils.factories import metric, tiny_config

RUNGS = [60.0, 180.0]


def finished_search(client, **overrides) -> dict:
    """A search whose first trial has finished (so it has a best)."""
    body = {"rungs_s": RUNGS, "promote_fraction": 0.5, "pruner": "diverged", "n_trials": 2, "max_concurrent": 1,
            "base_config": tiny_config(epochs=50, data={"holdout": 20}), **overrides}
    if not body["rungs_s"]:
        body.pop("rungs_s"), body.pop("promote_fraction")
        body["pruner"], body["base_config"] = "none", tiny_config(epochs=4, time_budget_s=120.0)
    search = create(client, **body)
    first = queued(client, search["id"])[0]
    train(client, first["run_id"], [0.4, 0.6])
    return client.get(f"/api/searches/{search['id']}").json()


def finish_with_test(client, run_id: int, test_accs: list[float]) -> None:
    """A run without a holdout: its epochs' test accuracies, no validation."""
    claim(client, run_id)
    for epoch, acc in enumerate(test_accs, 1):
        r = client.post(f"/api/worker/runs/{run_id}/epochs",
                        json={"attempt": 1, "metrics": [metric(epoch, acc, val_acc=None)]})
        assert r.status_code == 204, r.text
    r = client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "timed_out", "reason": "budget"})
    assert r.status_code == 204, r.text


def test_no_winner_before_a_trial_has_finished(client) -> None:
    search = create(client, rungs_s=RUNGS, promote_fraction=0.5, pruner="diverged", n_trials=2,
                    base_config=tiny_config(epochs=50, data={"holdout": 20}))
    before = client.get("/api/runs").json()["count"]
    r = client.post(f"/api/searches/{search['id']}/winner", json={})
    assert r.status_code == 409 and "no finished trial" in r.json()["detail"]
    assert client.get("/api/runs").json()["count"] == before


@pytest.mark.parametrize("seeds", [1, 17, "3", None])
def test_the_seed_count_is_bounded_and_named(client, seeds) -> None:
    search = finished_search(client)
    before = client.get("/api/runs").json()["count"]
    r = client.post(f"/api/searches/{search['id']}/winner", json={"seeds": seeds})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "seeds", r.text
    assert client.get("/api/runs").json()["count"] == before  # nothing made


def test_both_sides_train_the_same_seeds_at_the_full_budget_on_the_whole_training_set(client) -> None:
    search = finished_search(client)
    best = search["best"]
    assert search["winner"] is None
    r = client.post(f"/api/searches/{search['id']}/winner", json={"seeds": 3})
    assert r.status_code == 201, r.text
    w = r.json()["winner"]
    assert w["budget_s"] == RUNGS[-1] and w["figure"] == "final_test_acc" and w["comparison"] is None
    assert w["baseline"].startswith("compact")
    sides = {}
    for name, group in (("winner", w["winner"]), ("baseline", w["baseline_group"])):
        assert len(group["run_ids"]) == 3 and group["summary"]["pending"] == 3
        sides[name] = [client.get(f"/api/runs/{i}").json() for i in group["run_ids"]]
    assert [r["config"]["seed"] for r in sides["winner"]] == [r["config"]["seed"] for r in sides["baseline"]] == \
        w["winner"]["seeds"] == w["baseline_group"]["seeds"]  # paired: the same seeds
    assert len(set(w["winner"]["seeds"])) == 3
    for run in sides["winner"] + sides["baseline"]:
        c = run["config"]
        assert (c["schedule_by"], c["time_budget_s"]) == ("time_budget", RUNGS[-1])  # annealed to the full budget
        assert c["data"]["holdout"] == 0 and c["data"]["train_limit"] is None and c["data"]["test_limit"] is None
    for run in sides["winner"]:  # the best trial's config, the data and budget aside
        assert run["config"]["architecture"] == best["config"]["architecture"]
        for key in ("lr", "batch_size", "label_smoothing"):
            assert run["config"][key] == best["config"][key], key
    recipe = PILOT_15MIN.settings
    for run in sides["baseline"]:  # compact with the 15-minute recipe
        assert run["config"]["architecture"]["name"] == "compact"
        assert run["config"]["lr"] == recipe["lr"] and run["config"]["batch_size"] == recipe["batch_size"]

    # a second launch while the first trains: refused, nothing made
    before = client.get("/api/runs").json()["count"]
    again = client.post(f"/api/searches/{search['id']}/winner", json={})
    assert again.status_code == 409 and "still training" in again.json()["detail"]
    assert client.get("/api/runs").json()["count"] == before


def test_the_comparison_pairs_seeds_on_the_last_epoch_not_the_best(client) -> None:
    search = finished_search(client)
    w = client.post(f"/api/searches/{search['id']}/winner", json={"seeds": 3}).json()["winner"]
    # the winner's best epochs are far better than its last ones: a choice on test would flatter it
    winner_epochs = [[0.95, 0.70], [0.90, 0.72], [0.99, 0.71]]
    baseline_epochs = [[0.60, 0.66], [0.61, 0.69], [0.62, 0.65]]
    for run_id, accs in zip(w["winner"]["run_ids"][:1], winner_epochs, strict=False):
        finish_with_test(client, run_id, accs)
    partial = client.get(f"/api/searches/{search['id']}").json()["winner"]
    assert partial["comparison"] is None  # the baseline has finished no seed yet
    for run_id, accs in zip(w["winner"]["run_ids"][1:], winner_epochs[1:], strict=True):
        finish_with_test(client, run_id, accs)
    for run_id, accs in zip(w["baseline_group"]["run_ids"], baseline_epochs, strict=True):
        finish_with_test(client, run_id, accs)
    done = client.get(f"/api/searches/{search['id']}").json()["winner"]
    c = done["comparison"]
    diffs = [a[-1] - b[-1] for a, b in zip(winner_epochs, baseline_epochs, strict=True)]
    assert c["method"] == "paired" and c["seeds"] == w["winner"]["seeds"]
    assert c["differences"] == pytest.approx(diffs) and c["mean_diff"] == pytest.approx(statistics.mean(diffs))
    assert c["ci_low"] < c["mean_diff"] < c["ci_high"] and c["sentence"]
    assert done["winner"]["summary"]["figures"]["final_test_acc"]["mean"] == pytest.approx(
        statistics.mean(a[-1] for a in winner_epochs))
    assert done["winner"]["summary"]["pending"] == 0
    # finished: a new launch is allowed, and replaces the pair the search shows
    again = client.post(f"/api/searches/{search['id']}/winner", json={"seeds": 2})
    assert again.status_code == 201 and again.json()["winner"]["winner"]["id"] != w["winner"]["id"]


def test_a_search_without_rungs_trains_both_sides_to_its_trials_budget(client) -> None:
    search = finished_search(client, rungs_s=[])
    w = client.post(f"/api/searches/{search['id']}/winner", json={"seeds": 2}).json()["winner"]
    assert w["budget_s"] == 120.0
    run = client.get(f"/api/runs/{w['baseline_group']['run_ids'][0]}").json()
    assert run["config"]["time_budget_s"] == 120.0 and run["config"]["schedule_by"] == "time_budget"
