"""Searches against the real lab: PostgreSQL (Optuna's tables in its schema 'optuna'), Redis, the
backend as a process and a real Celery worker training tiny trials on generated data."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.utils.factories import tiny_config
from tests.utils.services import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def empty_queue(lab) -> None:
    """The lab is shared by the session: runs other tests left queued (the permission matrix makes
    dozens) are cancelled, so these trials do not wait behind them for the one worker."""
    while queued := lab.http.get("/api/runs?status=queued&limit=500").json()["data"]:
        for run in queued:
            lab.http.post(f"/api/runs/{run['id']}/cancel")


def wait_search(lab, search_id: int, status: str, timeout: float = 240) -> dict:
    try:
        return wait_for(lambda: (lambda s: s if s["status"] == status else None)(
            lab.http.get(f"/api/searches/{search_id}").json()), timeout, f"search {search_id} to be {status}",
            interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {lab.http.get(f'/api/searches/{search_id}').json()}\n{lab.logs()}") from None


def test_a_search_completes_through_the_real_worker_across_a_backend_restart_and_a_killed_worker(lab, worker) -> None:
    body = {"name": "restart me", "base_config": tiny_config(epochs=20),
            "space": {"lr": {"float": [0.02, 0.3], "log": True}, "augment.cutout": {"int": [0, 8], "step": 4}},
            "n_trials": 5, "max_concurrent": 2, "sampler": "tpe", "pruner": "median", "seed": 7}
    r = lab.http.post("/api/searches", json=body)
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    wait_for(lambda: lab.http.get(f"/api/searches/{search_id}").json()["counts"]["completed"] >= 1, 120,
             "a first trial to complete")
    lab.stop_backend()  # kill -9 in the middle of the search
    lab.start_backend()  # a new process: it finds the search in the database and carries it on
    running = wait_for(lambda: [t for t in lab.http.get(f"/api/searches/{search_id}").json()["trials"]
                                if t["run_status"] == "running" and t["epochs_done"] >= 1], 120,
                       "a trial in the middle of its epochs")
    lab.kill_workers()  # kill -9 of the worker while it trains a trial
    lab.start_worker()  # the run is requeued after the heartbeat timeout and resumes from its checkpoint
    detail = wait_search(lab, search_id, "completed")
    resumed = lab.run(running[0]["run_id"])
    assert resumed["status"] in ("succeeded", "pruned") and resumed["attempt"] >= 2
    assert detail["counts"]["trials"] == 5 and detail["counts"]["completed"] + detail["counts"]["pruned"] == 5
    trained = [t for t in detail["trials"] if t["run_id"] is not None]
    assert len(trained) == 5
    # a trial the killed backend had asked for but not yet queued is told failed, never trained, and replaced
    assert all(t["state"] == "failed" and "never queued" in t["problem"] for t in detail["trials"] if t not in trained)
    for trial in trained:
        run = lab.run(trial["run_id"])
        assert run["status"] in ("succeeded", "pruned") and run["search_id"] == search_id
        assert run["config"]["augment"]["cutout"] == trial["params"]["augment.cutout"]
    completed = [t for t in trained if t["state"] == "completed"]  # the best is chosen on validation accuracy
    assert detail["best"]["best_val_acc"] == max(t["best_val_acc"] for t in completed)
    engine = create_engine(lab.env["CNNLAB_DATABASE_URL"])  # Optuna's own tables, in their schema of the lab's database
    with engine.connect() as conn:
        states = conn.execute(text(
            "SELECT t.state FROM optuna.trials t JOIN optuna.studies s USING (study_id) JOIN searches x "
            "ON x.optuna_name = s.study_name WHERE x.id = :id"), {"id": search_id}).scalars().all()
    engine.dispose()
    assert len(states) == len(detail["trials"]) and states.count("COMPLETE") + states.count("PRUNED") == 5


def test_the_pruner_stops_a_real_run_mid_way_keeping_its_epochs(lab, worker) -> None:
    body = {"name": "prune me", "base_config": tiny_config(epochs=40, lr=0.1),
            "space": {"lr": {"float": [1e-7, 0.5], "log": True}},
            "initial_points": [{"lr": 0.2}, {"lr": 1e-7}],  # one that learns, one that cannot
            "n_trials": 2, "max_concurrent": 1, "sampler": "random", "pruner": "median",
            "pruner_startup_trials": 1, "pruner_warmup_epochs": 1}
    r = lab.http.post("/api/searches", json=body)
    assert r.status_code == 201, r.text
    detail = wait_search(lab, r.json()["id"], "completed")
    good, bad = detail["trials"]
    assert good["state"] == "completed" and good["epochs_done"] == 40
    assert bad["state"] == "pruned" and bad["run_status"] == "pruned", bad
    run = lab.run(bad["run_id"])
    assert 1 <= run["epochs_done"] < 40 and "pruned by its search" in run["reason"]
    assert len(lab.metrics(bad["run_id"])) == run["epochs_done"]  # every epoch it trained is kept
    assert bad["pruned_at"] is not None and bad["pruned_at"] <= run["epochs_done"]
