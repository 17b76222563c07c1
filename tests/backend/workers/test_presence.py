"""Worker presence in-process (SQLite): a worker says it is up (its credential only), its claim and
finish mark what it trains, members read GET /api/workers, and a queued run's summary carries its place."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config


@pytest.fixture(autouse=True)
def no_workers(client):
    """No worker known and no run queued or running (the modules share one database): the queue is the test's."""
    from backend.core.db import SessionLocal
    from backend.core.statuses import ACTIVE_STATUSES, RunStatus
    from backend.core.tables import Run, WorkerPresence

    def clear() -> None:
        with SessionLocal() as session:
            session.query(WorkerPresence).delete()
            session.query(Run).filter(Run.status.in_(ACTIVE_STATUSES)).update({"status": RunStatus.CANCELLED})
            session.commit()

    clear()
    yield
    clear()


def say_up(client, name: str = "cpu-1@box", first: bool = False, **headers):
    return client.post("/api/worker/presence", json={"name": name, "host": "box", "device": "cpu", "first": first},
                       headers=headers)


def workers(client) -> dict:
    r = client.get("/api/workers")
    assert r.status_code == 200, r.text
    return r.json()


def test_only_the_worker_credential_says_a_worker_is_up(client) -> None:
    assert say_up(client).status_code == 204  # the test client sends the worker credential on /api/worker/*
    assert say_up(client, Authorization=f"Bearer {client.token}").status_code == 403  # a member's token
    anonymous = client.post("/api/worker/presence", json={"name": "x", "host": "h", "device": "cpu"},
                            headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert client.get("/api/workers", headers={"Authorization": f"Bearer {WORKER_TOKEN}"}).status_code == 403
    assert [w["name"] for w in workers(client)["data"]] == ["cpu-1@box"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "", "host": "h", "device": "cpu"}, "name"),
    ({"name": "n" * 201, "host": "h", "device": "cpu"}, "name"),
    ({"name": "a\x00b", "host": "h", "device": "cpu"}, "name"),
    ({"name": "ok", "host": "h\nx", "device": "cpu"}, "host"),
    ({"name": "ok", "host": "h", "device": "d" * 65}, "device"),
    ({"name": "ok", "host": "h", "device": "cpu", "extra": 1}, "extra"),
])
def test_a_presence_report_out_of_bounds_is_refused_naming_the_field(client, body, field) -> None:
    r = client.post("/api/worker/presence", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].endswith(field)


def test_a_worker_shows_what_it_trains_from_claim_to_finish(client) -> None:
    assert say_up(client, first=True).status_code == 204
    run_id = client.post("/api/runs", json={"config": tiny_config(epochs=3)}).json()["id"]
    claim = client.post(f"/api/worker/runs/{run_id}/claim",
                        json={"host": "box", "device": "cpu", "worker": "cpu-1@box"})
    assert claim.status_code == 200, claim.text
    assert client.post(f"/api/worker/runs/{run_id}/epochs",
                       json={"attempt": 1, "metrics": [{**metric(1), "seconds": 4.0}]}).status_code == 204
    body = workers(client)
    (w,) = body["data"]
    assert (body["up"], body["count"], w["up"], w["device"], w["host"]) == (1, 1, True, "cpu", "box")
    assert w["run"]["id"] == run_id and (w["run"]["epochs_done"], w["run"]["epochs"]) == (1, 3)
    assert w["run"]["epoch_s"] == pytest.approx(4.0) and w["run"]["since"]
    assert client.post(f"/api/worker/runs/{run_id}/finish",
                       json={"attempt": 1, "status": "succeeded"}).status_code == 204
    assert workers(client)["data"][0]["run"] is None


def test_a_worker_not_seen_for_three_intervals_is_down_and_listed_after_those_up(client) -> None:
    from backend.core.db import SessionLocal
    from backend.core.settings import settings
    from backend.core.tables import WorkerPresence, utcnow

    assert say_up(client, "a-quiet@box").status_code == 204
    assert say_up(client, "b-busy@box").status_code == 204
    with SessionLocal() as session:
        quiet = session.query(WorkerPresence).filter_by(name="a-quiet@box").one()
        quiet.last_seen_at = utcnow() - timedelta(seconds=3 * settings.WORKER_PRESENCE_S + 5)
        session.commit()
    body = workers(client)
    assert [(w["name"], w["up"]) for w in body["data"]] == [("b-busy@box", True), ("a-quiet@box", False)]
    assert body["up"] == 1
    assert say_up(client, "a-quiet@box").status_code == 204  # back: up again
    assert workers(client)["up"] == 2


def test_a_first_word_starts_the_worker_anew(client) -> None:
    from backend.core.db import SessionLocal
    from backend.core.tables import WorkerPresence, utcnow

    assert say_up(client, first=True).status_code == 204
    run_id = client.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    assert client.post(f"/api/worker/runs/{run_id}/claim",
                       json={"host": "box", "device": "cpu", "worker": "cpu-1@box"}).status_code == 200
    with SessionLocal() as session:
        row = session.query(WorkerPresence).filter_by(name="cpu-1@box").one()
        row.started_at = utcnow() - timedelta(hours=2)
        session.commit()
    assert say_up(client).status_code == 204  # a beat: the same process, still training
    with SessionLocal() as session:
        row = session.query(WorkerPresence).filter_by(name="cpu-1@box").one()
        assert row.run_id == run_id and utcnow() - row.started_at.replace(tzinfo=utcnow().tzinfo) > timedelta(hours=1)
    assert say_up(client, first=True).status_code == 204  # restarted: up since now
    with SessionLocal() as session:
        row = session.query(WorkerPresence).filter_by(name="cpu-1@box").one()
        assert utcnow() - row.started_at.replace(tzinfo=utcnow().tzinfo) < timedelta(hours=1)


def test_queued_runs_carry_their_place_and_others_none(client) -> None:
    assert say_up(client, first=True).status_code == 204
    running = client.post("/api/runs", json={"config": tiny_config(epochs=5)}).json()["id"]
    assert client.post(f"/api/worker/runs/{running}/claim",
                       json={"host": "box", "device": "cpu", "worker": "cpu-1@box"}).status_code == 200
    assert client.post(f"/api/worker/runs/{running}/epochs",
                       json={"attempt": 1, "metrics": [{**metric(1), "seconds": 2.0}]}).status_code == 204
    first = client.post("/api/runs", json={"config": tiny_config(epochs=5)}).json()["id"]
    second = client.post("/api/runs", json={"config": tiny_config(epochs=5)}).json()["id"]
    listed = {r["id"]: r for r in client.get("/api/runs?status=queued,running&limit=500").json()["data"]}
    assert listed[running]["queue"] is None
    one, two = listed[first]["queue"], listed[second]["queue"]
    assert (one["position"], one["ahead"], two["position"], two["ahead"]) == (1, 0, 2, 1)
    assert one["workers_up"] == 1
    # the running run has 4 epochs left at its own 2 s each; the queued runs, one after the other, at the
    # mean of the runs of the same network and batch (the running one, and this database's earlier ones)
    assert one["eta_start_s"] == 8.0
    assert one["eta_finish_s"] > one["eta_start_s"] and two["eta_start_s"] == one["eta_finish_s"]
    # the same expected duration (each ETA is rounded to the second on its own: their differences may part by 1 s;
    # the mean they use depends on which runs of this network the database already holds)
    assert abs((two["eta_finish_s"] - two["eta_start_s"]) - (one["eta_finish_s"] - one["eta_start_s"])) <= 1
    assert client.get(f"/api/runs/{second}").json()["queue"] == two
