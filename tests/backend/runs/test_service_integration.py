"""The service with real parts: PostgreSQL, Redis, our backend and a Celery worker as processes.

Runs train a tiny net on a tiny generated dataset. Faults are real: the worker is killed with
SIGKILL, the backend is killed and restarted, a Redis server is restarted with runs queued.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.utils.factories import tiny_config
from tests.utils.services import Lab, PrivatePostgres, PrivateRedis, require_redis, wait_for

pytestmark = pytest.mark.integration


def quick(**overrides):
    return tiny_config(**{"epochs": 3, "batch_size": 16, **overrides})


def slow(epochs: int = 40, **overrides):
    return tiny_config(epochs=epochs, batch_size=4, **overrides)


def read_sse(lab: Lab, run_id: int, timeout: float = 120) -> list[tuple[str, dict, float]]:
    """(event, data, arrival time) for every event until the stream ends."""
    events, event = [], None
    with lab.http.stream("GET", f"/api/runs/{run_id}/events", timeout=timeout) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                events.append((event, json.loads(line[6:]), time.time()))
    return events


def test_submit_then_epochs_arrive_over_sse_then_succeeded(lab, worker) -> None:
    run = lab.submit(quick())
    events = read_sse(lab, run["id"])
    metrics = [d for e, d, _ in events if e == "metric"]
    statuses = [d["status"] for e, d, _ in events if e == "status"]
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert statuses[0] in ("queued", "running") and statuses[-1] == "succeeded"
    final = lab.run(run["id"])
    assert final["reason"] == "completed 3 epochs" and final["epochs_done"] == 3
    assert final["worker_host"] and final["device"] == "cpu" and final["attempt"] == 1
    for key in ("created_at", "started_at", "finished_at"):  # UTC with its offset on PostgreSQL too
        assert final[key].endswith(("Z", "+00:00")), (key, final[key])
    assert lab.http.get(f"/api/runs/{run['id']}/checkpoints/best").status_code == 200
    assert lab.http.get(f"/api/runs/{run['id']}/checkpoints/last").status_code == 200


def test_cancel_queued_and_cancel_running(lab, worker) -> None:
    running = lab.submit(slow(), name="long")
    lab.wait_epochs(running["id"], 1)  # the worker (one slot) is busy with it…
    waiting = lab.submit(quick(), name="waiting")  # …so this one waits
    assert lab.run(waiting["id"])["status"] == "queued"
    assert lab.http.post(f"/api/runs/{waiting['id']}/cancel").json()["status"] == "cancelled"

    r = lab.http.post(f"/api/runs/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"]
    final = lab.wait_status(running["id"], {"cancelled"}, timeout=30)
    assert final["reason"].startswith("cancelled on request after epoch")
    metrics = lab.metrics(running["id"])
    assert len(metrics) == final["epochs_done"] >= 1 and final["epochs_done"] < 40
    assert lab.http.get(f"/api/runs/{running['id']}/checkpoints/last").status_code == 200
    assert lab.http.post(f"/api/runs/{running['id']}/cancel").status_code == 409

    time.sleep(2)  # the worker picks up the cancelled run's message and must skip it
    skipped = lab.run(waiting["id"])
    assert skipped["status"] == "cancelled" and skipped["attempt"] == 0 and skipped["started_at"] is None


def test_time_budget_stops_a_run_as_timed_out(lab, worker) -> None:
    run = lab.submit(quick(epochs=500, time_budget_s=5))
    final = lab.wait_status(run["id"], {"timed_out"}, timeout=60)
    assert "time budget of 5 s reached" in final["reason"]
    assert final["epochs_done"] >= 1 and len(lab.metrics(run["id"])) == final["epochs_done"]
    assert lab.http.get(f"/api/runs/{run['id']}/checkpoints/best").status_code == 200


def test_worker_killed_mid_run_resumes_from_last_checkpoint(lab) -> None:
    lab.start_worker()
    run = lab.submit(slow(epochs=14))
    lab.wait_epochs(run["id"], 3)
    lab.kill_workers()  # kill -9 mid-run
    killed_at = lab.run(run["id"])["epochs_done"]
    assert lab.run(run["id"])["status"] == "running"
    lab.start_worker()
    final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=120)
    lab.kill_workers()
    assert final["status"] == "succeeded", final
    assert final["attempt"] == 2
    epochs = [m["epoch"] for m in lab.metrics(run["id"])]
    assert epochs == list(range(1, 15)), epochs  # none lost, none duplicated
    assert killed_at < 14


def test_backend_down_while_a_worker_trains_loses_no_epoch(lab, worker) -> None:
    run = lab.submit(slow(epochs=12))
    lab.wait_epochs(run["id"], 2)
    lab.stop_backend()
    time.sleep(4)  # epochs finish meanwhile; the worker retries its reports
    lab.start_backend()
    final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=120)
    assert final["status"] == "succeeded", final
    assert [m["epoch"] for m in lab.metrics(run["id"])] == list(range(1, 13))
    assert final["attempt"] == 1  # the worker kept its run: nothing was requeued


def test_database_down_while_a_worker_trains_loses_no_epoch(tmp_path, dataset) -> None:
    require_redis()
    pg = PrivatePostgres(tmp_path / "pg")
    pg.start()
    lab = Lab(tmp_path, pg.url, "redis://127.0.0.1:6379/0", dataset)
    try:
        lab.migrate()
        lab.start_backend()
        lab.start_worker()
        run = lab.submit(slow(epochs=12))
        lab.wait_epochs(run["id"], 2)
        pg.stop()  # immediate shutdown: connections drop mid-flight
        time.sleep(4)
        assert lab.http.get("/api/health").status_code == 503
        pg.start()
        final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=120)
        assert final["status"] == "succeeded", final
        assert [m["epoch"] for m in lab.metrics(run["id"])] == list(range(1, 13))
        assert final["attempt"] == 1
    finally:
        lab.close()
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass
        pg.remove()


def test_redis_restart_with_runs_queued_loses_none(tmp_path, pg_url, dataset) -> None:
    redis = PrivateRedis()
    redis.start()
    lab = Lab(tmp_path, pg_url, redis.url, dataset)
    try:
        lab.migrate()
        lab.start_backend()
        runs = [lab.submit(quick(), name=f"queued-{i}") for i in range(2)]  # no worker yet
        redis.stop()  # the broker dies with both messages: it keeps nothing on disk
        redis.start()
        time.sleep(1)
        lab.start_worker()
        for run in runs:
            final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=120)
            assert final["status"] == "succeeded" and final["epochs_done"] == 3
    finally:
        lab.close()
        redis.stop()


def test_sse_event_arrives_within_a_second_of_the_epoch_being_recorded(lab, worker) -> None:
    run = lab.submit(slow(epochs=4))
    events = read_sse(lab, run["id"])
    arrivals = {d["epoch"]: t for e, d, t in events if e == "metric"}
    assert sorted(arrivals) == [1, 2, 3, 4]
    wait_for(lambda: lab.run(run["id"])["status"] == "succeeded", 30, "run to finish")


def test_the_worker_refuses_a_data_link_that_leads_outside_the_data_folder(lab, worker, dataset, tmp_path) -> None:
    """The API lets 'escape' through (a plain name inside the folder); the worker follows the
    symlink, refuses, and the stored reason names no path of its machine."""
    (lab.data_dir / "escape").symlink_to(dataset)  # a real dataset, but outside the lab's folder
    run = lab.submit(quick(data={"source": "escape"}))
    final = lab.wait_status(run["id"], {"failed"}, timeout=60)
    assert "leads outside the lab's data folder" in final["reason"]
    assert str(dataset) not in final["reason"] and str(lab.data_dir) not in final["reason"]
