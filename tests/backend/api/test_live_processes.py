"""Several backend processes serve one lab (behind a proxy, or `CNNLAB_BACKEND_PROCESSES`): a
change made through one reaches the event streams of the others through the notifier — Redis
pub/sub or PostgreSQL LISTEN/NOTIFY — with no stream polling the database. Real PostgreSQL, Redis
and backend processes."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config
from tests.utils.live_server import OpenStream
from tests.utils.services import Lab, postgres_database, require_redis


@pytest.fixture(scope="module")
def database():
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module", params=["redis", "postgres"])
def lab_of_two(request, tmp_path_factory, database, dataset):
    """One lab, two backend processes on two ports, the notifier named by the parameter."""
    require_redis()
    lab = Lab(tmp_path_factory.mktemp(f"two-{request.param}"), database, "redis://127.0.0.1:6379/0", dataset,
              CNNLAB_NOTIFIER=request.param)
    lab.migrate()
    lab.start_backend()
    other = lab.start_extra_backend()
    yield lab, other
    lab.close()


def test_a_change_through_one_backend_reaches_the_streams_of_another(lab_of_two) -> None:
    lab, other_url = lab_of_two
    run = lab.submit(tiny_config(epochs=3), name="seen elsewhere")
    waiting = lab.submit(tiny_config(epochs=3), name="cancelled elsewhere")
    with httpx.Client(base_url=other_url, timeout=20, headers=dict(lab.http.headers)) as other:
        page, listing = OpenStream(other, f"/api/runs/{run['id']}/events"), OpenStream(other, "/api/runs/events")
        try:
            assert page.status_code == listing.status_code == 200
            page.until('"status":"queued"')
            listing.until(f'"id":{run["id"]},')
            started = time.monotonic()
            worker = {"Authorization": f"Bearer {WORKER_TOKEN}"}
            claim = lab.http.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"},
                                  headers=worker)
            assert claim.status_code == 200, claim.text
            page.until('"status":"running"')  # the claim went to the first backend, the stream is on the other
            steps = [("claim", time.monotonic() - started)]
            worker["X-Run-Lease"] = claim.json()["lease"]
            r = lab.http.post(f"/api/worker/runs/{run['id']}/epochs",
                              json={"attempt": 1, "metrics": [metric(1)]}, headers=worker)
            assert r.status_code == 204, r.text
            page.until("event: metric")
            steps.append(("epoch", time.monotonic() - started))
            assert lab.http.post(f"/api/runs/{waiting['id']}/cancel").status_code == 200
            listing.until('"status":"cancelled"')  # a queued run is cancelled at once
            steps.append(("cancel", time.monotonic() - started))
            print("notices crossed processes, seen after (s):", [(k, round(v, 3)) for k, v in steps])
        finally:
            page.close()
            listing.close()


def test_several_processes_on_one_port_see_each_others_changes(tmp_path_factory, database, dataset) -> None:
    """`CNNLAB_BACKEND_PROCESSES=2`: uvicorn's workers share the port; streams opened on it land on
    either process, changes made through it on either, and every stream sees every change."""
    require_redis()
    lab = Lab(tmp_path_factory.mktemp("workers"), database, "redis://127.0.0.1:6379/0", dataset,
              CNNLAB_BACKEND_PROCESSES="2")
    try:
        lab.migrate()
        lab.start_backend()
        run = lab.submit(tiny_config(epochs=3), name="many processes")
        streams = [OpenStream(lab.http, f"/api/runs/{run['id']}/events") for _ in range(8)]
        try:
            for stream in streams:
                stream.until('"status":"queued"')
            assert lab.http.post(f"/api/runs/{run['id']}/cancel").status_code == 200
            for stream in streams:
                stream.until('"status":"cancelled"')
        finally:
            for stream in streams:
                stream.close()
        children = lab.backend_processes()
        assert len(children) == 2, children  # two processes served those streams
    finally:
        lab.close()
