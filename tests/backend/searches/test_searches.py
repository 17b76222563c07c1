"""Searches in-process (SQLite, Optuna's storage in its sibling file), the worker's calls made by
hand: what a search refuses, how trials are asked, told, pruned and never queued over the budget."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from tests.utils.factories import TINY_ARCH, class_report, metric, tiny_config, trial_metric

TINY_BASE = tiny_config(epochs=4)


def body(**overrides):
    out = {"name": "tiny search", "base_config": TINY_BASE,
           "space": {"lr": {"float": [0.01, 0.5], "log": True}, "batch_size": {"choice": [16, 32]}},
           "n_trials": 4, "max_concurrent": 2, "sampler": "random", "pruner": "none"}
    out.update(overrides)
    return out


def create(client, **overrides):
    r = client.post("/api/searches", json=body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def claim(client, run_id: int) -> None:
    r = client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
    assert r.status_code == 200, r.text


def train(client, run_id: int, accs: list[float], status: str = "succeeded",
          test_accs: list[float] | None = None) -> None:
    """What a worker does: claim, report the epochs (validation accuracies ``accs``; test accuracies
    the same unless given), send the chosen weights' class report, finish. A trial reads the test set
    only at its end (test_each_epoch off): its epochs carry no test figure, and its class report is its one
    test read — the chosen epoch's test accuracy."""
    claim(client, run_id)
    end_only = client.get(f"/api/runs/{run_id}").json()["config"]["test_each_epoch"] is False
    for epoch, acc in enumerate(accs, 1):
        test = test_accs[epoch - 1] if test_accs else acc
        m = trial_metric(epoch, acc) if end_only else metric(epoch, test, val_acc=acc)
        r = client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [m]})
        assert r.status_code == 204, r.text
    if accs:
        chosen = max(range(len(accs)), key=lambda i: (accs[i], -i))  # the first best, as the trainer keeps it
        report = class_report(chosen + 1, test_accs[chosen] if test_accs else accs[chosen])
        r = client.put(f"/api/worker/runs/{run_id}/evaluation", json={"attempt": 1, "report": report})
        assert r.status_code == 204, r.text
    r = client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": status, "reason": "done"})
    assert r.status_code == 204, r.text


def queued(client, search_id: int) -> list[dict]:
    trials = client.get(f"/api/searches/{search_id}").json()["trials"]
    return [t for t in trials if t["run_status"] == "queued"]


def study_of(client, search_id: int) -> optuna.Study:
    from backend.core.db import SessionLocal
    from backend.core.tables import Search
    from backend.searches.storage import storage

    with SessionLocal() as session:
        name = session.get_one(Search, search_id).optuna_name
    return optuna.load_study(study_name=name, storage=storage())


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"space": {"no_such_option": {"float": [0, 1]}}}, "space.no_such_option", "is not a run option"),
    ({"space": {"lr": {"float": [0.5, 0.1]}}}, "space.lr.float", "empty or inverted"),
    ({"space": {"lr": {"float": [0.1, 0.1]}}}, "space.lr.float", "empty or inverted"),
    ({"space": {"label_smoothing": {"float": [0.0, 0.3], "log": True}}}, "space.label_smoothing.float",
     "log range needs low > 0"),
    ({"space": {"lr": {"float": [0.0, 0.5]}}}, "space.lr.float[0]", "(> 0)"),
    ({"space": {"lr": {"float": [0.01, 500.0]}}}, "space.lr.float[1]", "<= 100"),
    ({"space": {"batch_size": {"choice": [16, 0]}}}, "space.batch_size.choice[1]", ">= 1"),
    ({"space": {"optimizer": {"choice": ["sgd", "lion"]}}}, "space.optimizer.choice[1]", "not one of"),
    ({"space": {"batch_size": {"float": [16, 64]}}}, "space.batch_size", "int option"),
    ({"space": {"augment.cutout": {"int": [0, 12], "step": 0}}}, "space.augment.cutout.step", "positive"),
    ({"space": {"architecture.blocks_per_stage": {"int": [1, 3]}}}, "space.architecture.blocks_per_stage",
     "resnet"),
    ({"space": {"architecture.stages": {"choice": [1]}}}, "space.architecture.stages", "cannot be searched"),
    ({"space": {"lr": {"uniform": [0.1, 0.2]}}}, "space.lr", "exactly one"),
    ({"space": {"architecture.width_1": {"int": [600, 1000]}, "architecture.width_2": {"int": [600, 1000]}}},
     "space", "every point is over the parameter"),
    ({"sampler": "grid"}, "space.lr", "grid sampler"),
    ({"sampler": "grid", "space": {"batch_size": {"choice": [16, 32]}}, "n_trials": 3}, "n_trials",
     "grid's 2 points"),
    ({"initial_points": [{"lr": 7.0}]}, "initial_points[0].lr", "outside"),
    ({"initial_points": [{"momentum": 0.5}]}, "initial_points[0].momentum", "not a key"),
    ({"objectives": ["minimize params"]}, "objectives", "first objective"),
    ({"n_trials": 501}, "n_trials", "500"),
    ({"space": {"seed": {"int": [0, 10**400]}}}, "space.seed.int", "two numbers"),
    ({"space": {"architecture.dropout": {"float": [0.0, 0.5], "step": 1e-12}}}, "space.architecture.dropout.step",
     "more than 1,000,000 points"),
    ({"space": {"architecture.family": {"choice": [["compact"], {"a": 1}]}}},
     "space.architecture.family.choice[0]", "a choice must be"),
    ({"objectives": ["maximize val_acc", "minimize params"], "pruner": "median"}, "pruner", "two objectives"),
    ({"sampler": "grid", "space": {"batch_size": {"choice": [16, 32]}, "seed": {"choice": [1, 2]}}, "n_trials": 2,
      "initial_points": [{"seed": 1}]}, "initial_points[0]", "needs every key"),
    ({"space": {"augment.cutout": {"int": [0, 12], "step": 4}}, "initial_points": [{"augment.cutout": 6}]},
     "initial_points[0].augment.cutout", "outside"),
    ({"max_concurrent": 17}, "max_concurrent", "16"),
    ({"sampler": "cmaes"}, "sampler", "Input should be 'tpe', 'random', 'grid' or 'nsga2', got 'cmaes'"),
    ({"pruner": "patient"}, "pruner", "'hyperband', 'successive_halving', 'median', 'diverged' or 'none', got"),
    # time rungs (issue 33): increasing, within the lab's budget, a share in (0, 1), no mid-way ranking
    ({"rungs_s": [60, 7200]}, "rungs_s[1]", "7200 s is over the lab's time budget of 3600 s"),
    ({"rungs_s": [120, 60]}, "rungs_s[1]", "60 s must be longer than rungs_s[0] (120 s)"),
    ({"rungs_s": [60, 60]}, "rungs_s[1]", "must be longer than rungs_s[0]"),
    ({"rungs_s": [0, 60]}, "rungs_s[0]", "greater than 0"),
    ({"rungs_s": [10, 20, 30, 40, 50, 60]}, "rungs_s", "at most 5"),
    ({"rungs_s": [60, 120], "promote_fraction": 1.0}, "promote_fraction", "less than 1"),
    ({"rungs_s": [60, 120], "promote_fraction": 0}, "promote_fraction", "greater than 0"),
    ({"rungs_s": [60, 120], "pruner": "median"}, "pruner", "cannot be ranked mid-way: use 'diverged' or 'none'"),
    ({"space": {"architecture.width_1": {"int": [8, 1000]}, "architecture.width_2": {"int": [8, 1000]}},
      "initial_points": [{"architecture.width_1": 1000, "architecture.width_2": 1000}]}, "initial_points[0]",
     "over the budget"),
    ({"objectives": ["maximize val_acc", "minimize flops"]}, "objectives[1]", "got 'minimize flops'"),
    ({"objectives": ["maximize best_test_acc"]}, "objectives[0]", "chooses trials on the test set"),
    ({"base_config": tiny_config(epochs=4, data={"holdout": 0})}, "base_config.data.holdout", "validation images"),
    ({"space": {"data.holdout": {"int": [10, 100]}}}, "space.data.holdout", "same validation images"),
    ({"space": {"test_each_epoch": {"choice": [True, False]}}}, "space.test_each_epoch",
     "reads the test set once, at its end"),
    ({"base_config": tiny_config(epochs=4, time_budget_s=7200)}, "base_config.time_budget_s", "lab's time budget"),
])
def test_a_search_is_refused_naming_the_field_and_nothing_is_made(client, change, field, words) -> None:
    before = client.get("/api/searches").json()["count"]
    runs_before = runs_outside_searches_before(before)
    r = client.post("/api/searches", json=body(**change))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["field"] == field, detail
    assert words in detail["message"], detail
    assert client.get("/api/searches").json()["count"] == before
    assert runs_outside_searches_before(before) == runs_before


def runs_outside_searches_before(n_searches: int) -> int:
    """Runs that no search among the first ``n_searches`` made. The reaper's tick may move an earlier
    test's search on meanwhile (a new trial run); a refused search must make none of its own."""
    from sqlalchemy import func, or_, select

    from backend.core.db import SessionLocal
    from backend.core.tables import Run, Search

    with SessionLocal() as session:
        earlier = select(Search.id).order_by(Search.id).limit(n_searches).scalar_subquery()
        return session.scalar(select(func.count(Run.id)).where(
            or_(Run.search_id.is_(None), Run.search_id.not_in(earlier)))) or 0


def test_the_schema_publishes_every_sampler_pruner_and_objective_of_the_registries(client) -> None:
    from backend.searches.registries import OBJECTIVES, PRUNERS, SAMPLERS

    assert list(SAMPLERS) == ["tpe", "random", "grid", "nsga2"]
    assert list(PRUNERS) == ["hyperband", "successive_halving", "median", "diverged", "none"]
    assert list(OBJECTIVES) == ["maximize val_acc", "maximize best_test_acc", "minimize params", "minimize macs"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("SearchCreate", "SearchPublic"):
        fields = schemas[model]["properties"]
        assert fields["sampler"]["enum"] == list(SAMPLERS)
        assert fields["pruner"]["enum"] == list(PRUNERS)
        assert fields["objectives"]["items"]["enum"] == list(OBJECTIVES)
        assert fields["sampler"]["x-titles"]["nsga2"] == "NSGA-II"  # what the form's select shows
    create = schemas["SearchCreate"]["properties"]
    assert (create["sampler"]["default"], create["pruner"]["default"]) == ("tpe", "median")
    assert create["objectives"]["default"] == ["maximize val_acc"]


def test_every_registered_sampler_and_pruner_is_made() -> None:
    from backend.searches.registries import PRUNERS, SAMPLERS, PrunerArgs, SamplerArgs
    from backend.searches.space import Space

    for name, kind in SAMPLERS.items():
        sampler = kind.make(SamplerArgs(seed=1, search_seed=1, n_trials=8, space=Space([], {})))
        assert isinstance(sampler, optuna.samplers.BaseSampler), name
    for name, kind in PRUNERS.items():
        assert isinstance(kind.make(PrunerArgs(warmup_epochs=1, startup_trials=3, epochs=4)),
                          optuna.pruners.BasePruner), name


def test_a_search_asks_trials_as_runs_tells_them_and_completes(client) -> None:
    search = create(client, seed=3)
    assert search["status"] == "running" and search["counts"]["queued"] == 2
    numbers = set()
    while True:
        waiting = queued(client, search["id"])
        if not waiting:
            break
        for i, trial in enumerate(waiting):
            run = client.get(f"/api/runs/{trial['run_id']}").json()
            assert run["search_id"] == search["id"] and run["trial_number"] == trial["number"]
            assert run["config"]["lr"] == pytest.approx(trial["params"]["lr"])
            assert run["config"]["batch_size"] == trial["params"]["batch_size"]
            numbers.add(trial["number"])
            # the better a trial on validation, the worse on test: only validation may choose
            train(client, trial["run_id"], [0.2, 0.3 + 0.1 * i], test_accs=[0.2, 0.6 - 0.1 * i])
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["status"] == "completed" and detail["finished_at"]
    assert numbers == {0, 1, 2, 3} and detail["counts"]["completed"] == 4
    study = study_of(client, search["id"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    best = max(study.trials, key=lambda t: t.values[0])
    assert detail["best"]["number"] == best.number and detail["best"]["best_val_acc"] == pytest.approx(0.4)
    assert detail["best"]["test_acc_at_best_val"] == pytest.approx(0.5)  # not the trials whose test reached 0.6
    assert best.values[0] == pytest.approx(0.4)  # Optuna was told validation accuracy
    full = detail["best"]["full_config"]
    assert full["epochs"] == 30 and full["data"]["train_limit"] is None
    # every epoch was reported to the trial as it was recorded
    assert study.trials[0].intermediate_values == {1: 0.2, 2: pytest.approx(study.trials[0].values[0])}


def test_networks_over_the_budget_are_never_queued_and_the_sampler_is_told(client) -> None:
    from backend.core.settings import settings

    # the compact preset (244,746 parameters) fits; twice as wide it has about four times as many
    space = {"architecture.width_mult": {"choice": [1.0, 2.0]}, "lr": {"float": [0.01, 0.5]}}
    search = create(client, space=space, n_trials=3, max_concurrent=3, seed=1,
                    base_config={**TINY_BASE, "architecture": "compact"})
    detail = client.get(f"/api/searches/{search['id']}").json()
    over = [t for t in detail["trials"] if t["state"] == "infeasible"]
    trained = [t for t in detail["trials"] if t["run_id"] is not None]
    assert len(trained) == 3 and over, detail["trials"]  # the seed draws 2.0 at least once
    assert detail["counts"]["infeasible"] == len(over)
    assert all(t["params"]["architecture.width_mult"] == 2.0 and "over the budget" in t["problem"] for t in over)
    for t in trained:
        run = client.get(f"/api/runs/{t['run_id']}").json()
        assert run["params"] == 244_746 <= settings.PARAM_BUDGET  # the compact preset's
        assert run["config"]["architecture"]["stages"] == [[32, 32], [64, 64], [112, 112]]
    study = study_of(client, search["id"])
    for t in study.trials:
        infeasible = t.params["architecture.width_mult"] == 2.0
        assert (t.constraints["params_over_budget"] > 0) == infeasible  # what TPE and NSGA-II read
        assert t.state == (TrialState.COMPLETE if infeasible else TrialState.RUNNING)


def test_the_pruner_stops_a_trial_that_falls_behind_and_the_sampler_sees_it_pruned(client) -> None:
    search = create(client, pruner="median", pruner_startup_trials=1, pruner_warmup_epochs=1, max_concurrent=1,
                    n_trials=2, base_config=tiny_config(epochs=6))
    first = queued(client, search["id"])[0]
    train(client, first["run_id"], [0.5, 0.6, 0.7, 0.8, 0.85, 0.9])
    second = queued(client, search["id"])[0]
    run_id = second["run_id"]
    claim(client, run_id)
    for epoch, acc in enumerate([0.1, 0.1], 1):
        client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [trial_metric(epoch, acc)]})
    beat = client.post(f"/api/worker/runs/{run_id}/heartbeat", json={"attempt": 1}).json()
    assert beat["prune_requested"] is True and beat["cancel_requested"] is False
    r = client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "pruned",
                                                                "reason": "pruned by its search after epoch 2"})
    assert r.status_code == 204
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "pruned" and run["epochs_done"] == 2
    assert len(client.get(f"/api/runs/{run_id}/metrics").json()["data"]) == 2  # its epochs are kept
    study = study_of(client, search["id"])
    assert study.trials[1].state == TrialState.PRUNED and study.trials[1].intermediate_values == {1: 0.1, 2: 0.1}
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["status"] == "completed" and detail["counts"]["pruned"] == 1
    assert detail["trials"][1]["pruned_at"] == 2


def test_a_trial_that_keeps_up_is_not_pruned(client) -> None:
    search = create(client, pruner="median", pruner_startup_trials=1, max_concurrent=1, n_trials=2)
    first = queued(client, search["id"])[0]
    train(client, first["run_id"], [0.5, 0.6])
    second = queued(client, search["id"])[0]
    claim(client, second["run_id"])
    client.post(f"/api/worker/runs/{second['run_id']}/epochs", json={"attempt": 1, "metrics": [trial_metric(1, 0.7)]})
    beat = client.post(f"/api/worker/runs/{second['run_id']}/heartbeat", json={"attempt": 1}).json()
    assert beat["prune_requested"] is False


def test_a_failed_or_cancelled_trial_is_told_failed_and_replaced(client) -> None:
    search = create(client, n_trials=3, max_concurrent=1)
    first = queued(client, search["id"])[0]
    train(client, first["run_id"], [0.3], status="failed")
    second = queued(client, search["id"])[0]
    assert client.post(f"/api/runs/{second['run_id']}/cancel").status_code == 200
    from backend.searches.engine import advance

    advance(search["id"])  # the reaper's tick does this for a run cancelled before it started
    study = study_of(client, search["id"])
    assert [t.state for t in study.trials[:2]] == [TrialState.FAIL, TrialState.FAIL]
    assert len(queued(client, search["id"])) == 1  # the third trial


def test_stop_resume_and_delete_belong_to_the_owner_or_an_admin(client) -> None:
    search = create(client, n_trials=4, max_concurrent=2)
    sid = search["id"]
    bob = client.as_user("bob")
    assert bob.get(f"/api/searches/{sid}").status_code == 200  # members read every search
    for action in ("stop", "resume"):
        r = bob.post(f"/api/searches/{sid}/{action}")
        assert r.status_code == 403 and "alice" in r.json()["detail"]
    assert bob.delete(f"/api/searches/{sid}").status_code == 403
    stopped = client.post(f"/api/searches/{sid}/stop").json()
    assert stopped["status"] == "stopped"
    runs = [client.get(f"/api/runs/{t['run_id']}").json() for t in stopped["trials"] if t["run_id"]]
    assert runs and all(r["status"] == "cancelled" for r in runs)
    assert client.post(f"/api/searches/{sid}/stop").status_code == 409
    resumed = client.as_user("root", "admin").post(f"/api/searches/{sid}/resume").json()
    assert resumed["status"] == "running" and resumed["counts"]["queued"] == 2
    assert client.delete(f"/api/searches/{sid}").status_code == 204
    assert client.get(f"/api/searches/{sid}").status_code == 404
    for run in runs:  # the runs stay, as ordinary runs
        assert client.get(f"/api/runs/{run['id']}").json()["search_id"] is None


def test_the_figures_are_plotly_json_from_optuna_and_the_fronts(client) -> None:
    search = create(client, n_trials=3, max_concurrent=3, seed=2, base_config={**TINY_BASE, "architecture": "compact"},
                    space={"architecture.width_mult": {"choice": [0.25, 0.5, 2.0]}, "lr": {"float": [0.01, 0.5]}})
    early = client.get(f"/api/searches/{search['id']}/figures").json()
    assert "history" not in early and early["notes"]["history"]
    for i, trial in enumerate(queued(client, search["id"])):
        train(client, trial["run_id"], [0.2 + 0.1 * i])
    figures = client.get(f"/api/searches/{search['id']}/figures").json()
    for name in ("history", "importances", "parallel", "intermediate", "pareto_params", "pareto_macs"):
        assert figures[name]["data"], name
    names = [trace.get("name") for trace in figures["pareto_params"]["data"]]
    assert "Pareto front" in names
    assert any(shape.get("x0") == 256_000 for shape in figures["pareto_params"]["layout"]["shapes"])


def test_the_shipped_preset_is_a_valid_search(client) -> None:
    presets = client.get("/api/searches/presets").json()
    preset = next(p for p in presets if p["key"] == "best_under_budget")
    assert {"compact", "resnet"} == set(preset["body"]["space"]["architecture.family"]["choice"])
    from backend.searches.engine import check_body
    from backend.searches.schemas import SearchCreate

    check_body(SearchCreate.model_validate(preset["body"]))  # raises on any refusal
    keys = {k["key"] for k in client.get("/api/searches/space-keys").json()}
    assert set(preset["body"]["space"]) <= keys and "architecture.depth" in keys


def test_family_specific_knobs_are_only_sampled_for_their_family(client) -> None:
    space = {"architecture.family": {"choice": ["compact", "resnet"]},
             "architecture.blocks_per_stage": {"int": [1, 2]}, "architecture.pool_at": {"choice": ["first", "last"]},
             "architecture.width_1": {"int": [8, 16]}, "architecture.depth": {"int": [2, 3]}}
    search = create(client, space=space, n_trials=6, max_concurrent=6, seed=5,
                    base_config={**TINY_BASE, "architecture": TINY_ARCH})
    detail = client.get(f"/api/searches/{search['id']}").json()
    for t in detail["trials"]:
        family = t["params"]["architecture.family"]
        assert ("architecture.blocks_per_stage" in t["params"]) == (family == "resnet")
        assert ("architecture.pool_at" in t["params"]) == (family == "compact")
        if t["run_id"]:
            arch = client.get(f"/api/runs/{t['run_id']}").json()["config"]["architecture"]
            assert arch["family"] == family and len(arch["stages"]) == t["params"]["architecture.depth"]
            assert arch["stages"][0][0] == t["params"]["architecture.width_1"]
            if family == "resnet":
                assert len(arch["stages"][0]) == 2 * t["params"]["architecture.blocks_per_stage"]


def test_a_grid_search_visits_every_point_once(client) -> None:
    space = {"batch_size": {"choice": [16, 32]}, "augment.cutout": {"int": [0, 8], "step": 4}}
    search = create(client, sampler="grid", space=space, n_trials=6, max_concurrent=2)
    seen = []
    while waiting := queued(client, search["id"]):
        for trial in waiting:
            seen.append((trial["params"]["batch_size"], trial["params"]["augment.cutout"]))
            train(client, trial["run_id"], [0.4])
    assert sorted(seen) == [(b, c) for b in (16, 32) for c in (0, 4, 8)]  # all six, none twice
    assert client.get(f"/api/searches/{search['id']}").json()["status"] == "completed"


def test_a_two_objective_search_gives_a_pareto_front_and_takes_epochs(client) -> None:
    space = {"architecture.width_1": {"choice": [8, 16, 24]}}
    search = create(client, objectives=["maximize val_acc", "minimize params"], sampler="nsga2",
                    space=space, n_trials=3, max_concurrent=3, seed=4)
    for trial in queued(client, search["id"]):
        width = trial["params"]["architecture.width_1"]
        train(client, trial["run_id"], [0.3, 0.3 + width / 100])  # the epochs are stored (nothing to prune)
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["status"] == "completed" and detail["counts"]["completed"] == 3
    study = study_of(client, search["id"])
    assert {t.number for t in study.best_trials} == set(detail["pareto"])
    assert all(len(t.values) == 2 for t in study.trials)
    figures = client.get(f"/api/searches/{search['id']}/figures").json()
    assert figures["pareto_optuna"]["data"]


def test_a_stopped_search_asks_its_never_started_trials_again_when_resumed(client) -> None:
    search = create(client, n_trials=3, max_concurrent=2, seed=9)
    first = queued(client, search["id"])
    stopped = client.post(f"/api/searches/{search['id']}/stop").json()
    assert stopped["counts"]["trials"] == 0  # two queued runs cancelled before they started: not trials
    resumed = client.post(f"/api/searches/{search['id']}/resume").json()
    again = [t for t in resumed["trials"] if t["run_status"] == "queued"]
    assert sorted(t["params"]["lr"] for t in again) == sorted(t["params"]["lr"] for t in first)


def test_an_owner_at_the_quota_waits_and_spends_no_sample(client, monkeypatch) -> None:
    from backend.core.settings import settings
    from backend.searches.engine import advance

    search = create(client, n_trials=3, max_concurrent=2, initial_points=[{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}])
    first = queued(client, search["id"])
    active = client.get("/api/runs?status=queued,running&owner=alice").json()["count"]
    # alice's quota is one under what she has: when a trial ends, she is at it, and the search waits
    monkeypatch.setattr(settings, "MAX_ACTIVE_RUNS_PER_USER", active - 1)
    train(client, first[0]["run_id"], [0.5])
    advance(search["id"])
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["note"].startswith("waiting: ") and "quota" in detail["note"]
    assert [t["state"] for t in detail["trials"]] == ["completed", "running", "waiting"]  # lr 0.3 not spent
    monkeypatch.setattr(settings, "MAX_ACTIVE_RUNS_PER_USER", 0)
    advance(search["id"])
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert detail["note"] is None and detail["trials"][2]["params"]["lr"] == 0.3
    assert detail["trials"][2]["run_status"] == "queued"


def test_samples_over_the_budget_do_not_count_as_the_median_pruners_startup_trials(client) -> None:
    # a grid of four points, two over the budget (width × 2), walked in the search's shuffled order (warm-start
    # points over the budget are refused, so the grid makes the infeasible samples)
    space = {"architecture.width_mult": {"choice": [1.0, 2.0]}, "lr": {"choice": [0.1, 0.2]}}
    base = {**TINY_BASE, "architecture": "compact", "epochs": 3}
    search = create(client, space=space, n_trials=2, max_concurrent=1, pruner="median", pruner_startup_trials=2,
                    base_config=base, sampler="grid", seed=1)
    detail = client.get(f"/api/searches/{search['id']}").json()
    assert [t["state"] for t in detail["trials"][:3]] == ["infeasible", "infeasible", "running"]
    train(client, detail["trials"][2]["run_id"], [0.8, 0.9, 0.9])
    fourth = queued(client, search["id"])[0]
    claim(client, fourth["run_id"])
    for epoch in (1, 2):
        client.post(f"/api/worker/runs/{fourth['run_id']}/epochs",
                    json={"attempt": 1, "metrics": [trial_metric(epoch, 0.1)]})
    beat = client.post(f"/api/worker/runs/{fourth['run_id']}/heartbeat", json={"attempt": 1}).json()
    assert beat["prune_requested"] is False  # one trained trial: under the two startup trials


@pytest.mark.parametrize("path", ["/api/searches/presets", "/api/searches/space-keys"])
def test_the_fixed_paths_are_not_taken_for_a_search_id(client, path) -> None:
    r = client.request("OPTIONS", path)
    assert r.status_code == 405 and r.headers["allow"] == "GET"  # not the DELETE of /api/searches/{id}
