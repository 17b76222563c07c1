"""Searches by time rungs (issue 33): every trial planned by the first rung's budget, the best share of
each rung promoted as a fresh run planned by the next rung's, warm-start points first, the best chosen
on the validation split at the highest rung, only diverged trials pruned."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from backend.searches.rungs import Rung, promotions
from tests.backend.searches.test_searches import claim, create, queued, study_of, train
from tests.utils.factories import tiny_config, trial_metric

RUNGS = [60.0, 180.0]


def rung_runs(client, search_id: int, status: str = "queued") -> list[dict]:
    """The trials' runs at the later rungs in ``status``, with their trial number."""
    trials = client.get(f"/api/searches/{search_id}").json()["trials"]
    return [{**r, "trial": t["number"]} for t in trials for r in t["rungs"] if r["rung"] > 0 and
            r["run_status"] == status]


def test_asynchronous_promotion_takes_the_top_share_of_each_rung_once() -> None:
    runs = [Rung(0, 0, 0.5, False), Rung(1, 0, 0.7, False), Rung(2, 0, None, True)]
    assert promotions(runs, rungs=3, fraction=0.5) == [(1, 1)]  # ⌊2 × 0.5⌋ = 1 of the two finished
    runs += [Rung(1, 1, None, True), Rung(2, 0, 0.9, False)]
    runs = [r for r in runs if not (r.trial == 2 and r.value is None)]
    # three finished at rung 0: ⌊1.5⌋ = 1, the best now trial 2; trial 1 keeps its promotion (never taken back)
    assert promotions(runs, rungs=3, fraction=0.5) == [(2, 1)]
    runs += [Rung(2, 1, 0.8, False), Rung(1, 1, 0.6, False)]
    runs = [r for r in runs if not (r.rung == 1 and r.value is None)]
    # the higher rung first; at rung 1 the best of two is trial 2
    assert promotions(runs, rungs=3, fraction=0.5) == [(2, 2)]
    assert promotions(runs, rungs=2, fraction=0.5) == []  # nothing past the last rung
    ties = [Rung(0, 0, 0.5, False, params=900), Rung(1, 0, 0.5, False, params=100)]
    assert promotions(ties, rungs=2, fraction=0.5) == [(1, 1)]  # a tie goes to the smaller network


def test_trials_promote_as_fresh_runs_at_the_next_budget_and_the_best_is_chosen_at_the_highest_rung(client) -> None:
    warm = {"lr": 0.1, "batch_size": 16}
    search = create(client, rungs_s=RUNGS, promote_fraction=0.5, pruner="diverged", n_trials=4, max_concurrent=2,
                    initial_points=[warm], base_config=tiny_config(epochs=50, data={"holdout": 20}))
    assert [r["rung"] for r in search["rungs"]] == [0, 1] and [r["budget_s"] for r in search["rungs"]] == RUNGS
    first = queued(client, search["id"])
    assert first[0]["number"] == 0 and first[0]["params"] == warm  # the warm-start point is the first trial
    for trial in first:
        run = client.get(f"/api/runs/{trial['run_id']}").json()
        # planned by the first rung's budget, annealed to it; its epochs only a ceiling
        assert (run["config"]["schedule_by"], run["config"]["time_budget_s"], run["epochs"]) == \
            ("time_budget", 60.0, 50)
        assert run["config"]["test_each_epoch"] is False  # a trial reads the test set once, at its end
        assert trial["rungs"] == [{"rung": 0, "budget_s": 60.0, "run_id": trial["run_id"], "run_status": "queued",
                                   "best_val_acc": None, "test_acc_at_best_val": None}]
    # two finish at rung 0: the better (⌊2 × 0.5⌋ = 1) is promoted before any new trial is asked
    train(client, first[0]["run_id"], [0.3, 0.5], test_accs=[0.3, 0.9])
    train(client, first[1]["run_id"], [0.4, 0.7], test_accs=[0.4, 0.2])
    promoted = rung_runs(client, search["id"])
    assert [(p["trial"], p["rung"], p["budget_s"]) for p in promoted] == [(first[1]["number"], 1, 180.0)]
    again = client.get(f"/api/runs/{promoted[0]['run_id']}").json()
    source = client.get(f"/api/runs/{first[1]['run_id']}").json()
    assert again["id"] != source["id"] and again["status"] == "queued" and again["epochs_done"] == 0  # fresh
    assert (again["config"]["time_budget_s"], again["config"]["schedule_by"]) == (180.0, "time_budget")
    assert {k: v for k, v in again["config"].items() if k != "time_budget_s"} == \
        {k: v for k, v in source["config"].items() if k != "time_budget_s"}  # the same config, a longer budget
    assert "rung 2 (180 s)" in again["name"]
    assert len(queued(client, search["id"])) == 1  # the promotion took one of the two slots

    # the rest: rung-0 trials 0.6 and 0.2, so trial (0.6) is promoted too; at rung 1 they score below rung 0's best
    rung0 = {first[0]["number"]: 0.5, first[1]["number"]: 0.7}
    rung1: dict[int, float] = {}
    scores = iter([0.6, 0.2])
    while True:
        trial_runs = queued(client, search["id"])
        promotions_ = rung_runs(client, search["id"])
        if not trial_runs and not promotions_:
            break
        for t in trial_runs:
            rung0[t["number"]] = next(scores)
            train(client, t["run_id"], [0.1, rung0[t["number"]]])
        for p in promotions_:
            rung1[p["trial"]] = 0.65 if p["trial"] == first[1]["number"] else 0.66
            train(client, p["run_id"], [0.2, rung1[p["trial"]]], test_accs=[0.2, 0.1])
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["status"] == "completed"
    assert [(r["finished"], r["active"]) for r in detail["rungs"]] == [(4, 0), (2, 0)]  # ⌊4 × 0.5⌋ = 2 promoted
    best_trial = max(rung1, key=rung1.get)
    # chosen at the highest rung (0.66), not rung 0's 0.7: the longer budget is the real question
    assert (detail["best"]["number"], detail["best"]["rung"]) == (best_trial, 1)
    assert detail["best"]["best_val_acc"] == pytest.approx(0.66)
    assert detail["best"]["run_id"] == next(r["run_id"] for t in detail["trials"] for r in t["rungs"]
                                             if t["number"] == best_trial and r["rung"] == 1)
    assert {t["number"]: t["rung"] for t in detail["trials"]} == {n: (1 if n in rung1 else 0) for n in rung0}
    # Optuna was told every trial's first-rung validation accuracy: one fidelity for its sampler
    study = study_of(client, search["id"])
    assert {t.number: t.values[0] for t in study.trials} == pytest.approx(rung0)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_a_diverged_trial_is_stopped_at_any_rung_and_one_that_learns_is_not(client) -> None:
    search = create(client, rungs_s=RUNGS, promote_fraction=0.5, pruner="diverged", n_trials=3, max_concurrent=2)
    a, b = queued(client, search["id"])
    for trial, loss in ((a, 0.9), (b, 9.0)):  # 9 > 2 ln 10: twice a uniform guess's loss
        claim(client, trial["run_id"])
        client.post(f"/api/worker/runs/{trial['run_id']}/epochs",
                    json={"attempt": 1, "metrics": [{**trial_metric(1, 0.3), "train_loss": loss}]})
    beats = [client.post(f"/api/worker/runs/{t['run_id']}/heartbeat", json={"attempt": 1}).json() for t in (a, b)]
    assert [beat["prune_requested"] for beat in beats] == [False, True]
    study = study_of(client, search["id"])
    assert study.trials[b["number"]].intermediate_values == {1: 9.0}  # the loss is what it reads
    # a promoted run has no trial of its own: the same rule is checked on it directly
    r = client.post(f"/api/worker/runs/{b['run_id']}/finish", json={"attempt": 1, "status": "pruned", "reason": "x"})
    assert r.status_code == 204
    client.post(f"/api/worker/runs/{a['run_id']}/epochs", json={"attempt": 1, "metrics": [trial_metric(2, 0.5)]})
    client.post(f"/api/worker/runs/{a['run_id']}/finish", json={"attempt": 1, "status": "succeeded", "reason": "x"})
    (c,) = queued(client, search["id"])  # the pruned trial's slot
    train(client, c["run_id"], [0.2, 0.4])
    (promoted,) = rung_runs(client, search["id"])  # ⌊2 × 0.5⌋ of the two that trained to their end: a
    assert promoted["trial"] == a["number"]
    claim(client, promoted["run_id"])
    client.post(f"/api/worker/runs/{promoted['run_id']}/epochs",
                json={"attempt": 1, "metrics": [{**trial_metric(1, 0.3), "train_loss": float(2 * 9)}]})
    beat = client.post(f"/api/worker/runs/{promoted['run_id']}/heartbeat", json={"attempt": 1}).json()
    assert beat["prune_requested"] is True


def test_the_shipped_cpu_search_plans_by_time_rungs_and_starts_from_the_labs_good_configs(client) -> None:
    preset = next(p for p in client.get("/api/searches/presets").json() if p["key"] == "cpu_15min")
    body = preset["body"]
    assert body["rungs_s"] == [450.0, 900.0] and body["pruner"] == "diverged"
    assert body["base_config"]["time_budget_s"] == 900 and body["base_config"]["schedule_by"] == "time_budget"
    assert len(body["initial_points"]) == 2 and all(k in body["space"] for p in body["initial_points"] for k in p)
