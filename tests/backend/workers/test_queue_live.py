"""The queue you can see, on a real lab: PostgreSQL, Redis, our backend and a Celery worker as
processes. One worker trains a long run while two more wait: the worker says it is up and what it
trains, the waiting runs report their places 1 and 2 with ETAs, and their event streams say so."""

from __future__ import annotations

import json

import pytest

from tests.utils.factories import tiny_config
from tests.utils.services import Lab, wait_for

pytestmark = pytest.mark.integration


def nothing_waiting(lab: Lab) -> None:
    """The lab is shared by the session's tests: runs another test left queued are cancelled, so the
    queue is this test's."""
    for run in lab.http.get("/api/runs?status=queued,running&limit=500").json()["data"]:
        lab.http.post(f"/api/runs/{run['id']}/cancel")
    wait_for(lambda: not lab.http.get("/api/runs?status=queued,running").json()["data"], 60, "no active run")


def busy_with_two_waiting(lab: Lab) -> tuple[dict, dict, dict]:
    """A long run on the lab's one worker (an epoch recorded), then two runs queued behind it."""
    running = lab.submit(tiny_config(epochs=400, batch_size=4), name="long")
    lab.wait_epochs(running["id"], 2)
    first = lab.submit(tiny_config(epochs=3), name="waits first")
    second = lab.submit(tiny_config(epochs=3), name="waits second")
    return running, first, second


def test_a_busy_worker_and_the_places_of_the_runs_waiting_behind_it(lab, worker) -> None:
    nothing_waiting(lab)
    # the worker says it is up as soon as Celery is ready, before it has any run (its presence beat)
    idle = wait_for(lambda: [w for w in lab.http.get("/api/workers").json()["data"] if w["up"] and w["run"] is None],
                    120, "the worker to say it is up")
    assert idle[0]["name"].startswith("cpu-1@") and idle[0]["device"] == "cpu"
    running, first, second = busy_with_two_waiting(lab)
    try:
        workers = lab.http.get("/api/workers").json()
        mine = [w for w in workers["data"] if w["run"] and w["run"]["id"] == running["id"]]
        assert len(mine) == 1, workers
        (w,) = mine
        assert w["up"] and w["device"] == "cpu" and "@" in w["name"]  # the Celery hostname: slot@host
        assert w["run"]["epochs"] == 400 and w["run"]["epochs_done"] >= 2 and w["run"]["since"]
        assert w["run"]["epoch_s"] > 0  # its measured seconds per epoch
        assert workers["data"][0]["up"] and workers["up"] >= 1

        one, two = lab.run(first["id"])["queue"], lab.run(second["id"])["queue"]
        assert (one["position"], one["ahead"], two["position"], two["ahead"]) == (1, 0, 2, 1)
        assert one["workers_up"] >= 1
        # the long run holds the worker for its epochs left (or its budget): the first starts after it,
        # the second after the first (in whole seconds: a tiny run's few epochs may round to none)
        assert 0 < one["eta_start_s"] <= one["eta_finish_s"] <= two["eta_start_s"] <= two["eta_finish_s"]
        listed = {r["id"]: r for r in lab.http.get("/api/runs?status=queued").json()["data"]}
        assert listed[first["id"]]["queue"]["position"] == 1 and listed[second["id"]]["queue"]["position"] == 2
        assert lab.run(running["id"])["queue"] is None

        # the waiting run's event stream carries its place in the status it sends
        with lab.http.stream("GET", f"/api/runs/{second['id']}/events", timeout=30) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "status":
                    status = json.loads(line[6:])
                    break
        assert status["status"] == "queued" and status["queue"]["position"] == 2

        # the long run is cancelled: the first waiting run starts, the second moves up
        assert lab.http.post(f"/api/runs/{running['id']}/cancel").status_code == 200
        lab.wait_status(first["id"], {"running", "succeeded"}, timeout=120)
        moved = lab.run(second["id"])
        if moved["status"] == "queued":
            assert moved["queue"]["position"] == 1
    finally:
        nothing_waiting(lab)
