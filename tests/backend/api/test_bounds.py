"""Every bound at its limit, in-process on SQLite: the last accepted value, the first refused, and
nothing created by a refusal; the forced race of a superseded attempt; ids never reused; every
datetime with its offset."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from backend.cli.migrate import upgrade
from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Checkpoint, EpochMetric, Run, RunEvaluation, utcnow
from tests.utils.auth import LabTestClient, user_token
from tests.utils.factories import metric, tiny_config, trial_metric


@pytest.fixture(scope="module")
def client():
    upgrade()
    user_token("root", "admin")
    from backend.main import create_app

    with LabTestClient(create_app(), "bounds") as c:
        yield c


def counts() -> tuple[int, int]:
    with SessionLocal() as session:
        return session.query(Run).count(), session.query(EpochMetric).count()


def claimed(client, **config) -> int:
    run = client.post("/api/runs", json={"config": tiny_config(**config)}).json()
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    return run["id"]


def test_a_sweep_grid_is_counted_before_a_point_is_built(client) -> None:
    before = counts()
    grid = {"seed": list(range(1000)), "lr": [0.01 * (i + 1) for i in range(1000)], "batch_size": list(range(1, 1001))}
    r = client.post("/api/sweeps", json={"name": "huge", "base_config": tiny_config(), "grid": grid})
    assert r.status_code == 422 and r.json()["detail"][0] == {
        "field": "grid", "message": "1,000,000,000 points is over the limit of 64"}
    sweeper = client.as_user("sweeper")
    r = sweeper.post("/api/sweeps",
                     json={"name": "65", "base_config": tiny_config(), "grid": {"seed": list(range(65))}})
    assert r.status_code == 422 and "65 points" in r.json()["detail"][0]["message"]
    assert counts() == before
    r = sweeper.post("/api/sweeps",
                     json={"name": "64", "base_config": tiny_config(), "grid": {"seed": list(range(64))}})
    assert r.status_code == 201 and len(r.json()["runs"]) == 64


def test_a_json_body_is_capped(client, monkeypatch) -> None:
    monkeypatch.setattr(settings, "MAX_BODY_BYTES", 2000)
    body = '{"config": {"architecture": "wide", "epochs": 1}}'
    at_limit = body + " " * (2000 - len(body))
    before = counts()
    r = client.post("/api/runs", content=at_limit + " ", headers={"Content-Type": "application/json"})
    assert (r.status_code == 413 and r.json()["detail"][0]["field"] == "body"
            and "2,000 bytes" in r.json()["detail"][0]["message"])

    def chunked():  # no Content-Length: counted while it is read
        yield at_limit.encode()
        yield b" "

    r = client.post("/api/runs", content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert counts() == before
    assert client.post("/api/runs", content=at_limit, headers={"Content-Type": "application/json"}).status_code == 201


def test_a_checkpoint_upload_is_capped_and_checked_before_it_is_read(client, monkeypatch) -> None:
    monkeypatch.setattr(settings, "MAX_CHECKPOINT_BYTES", 1000)
    run_id = claimed(client)
    url = f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=1"
    folder = Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"
    read: list[int] = []

    def body(n: int):
        for _ in range(n):
            read.append(1)
            yield b"x" * 100

    assert client.put(url, content=body(3), headers={"X-Run-Lease": "wrong"}).status_code == 409
    assert read == []  # refused before a byte was read
    assert client.put(url, content=b"w" * 1000).status_code == 204
    assert client.put(url, content=b"z" * 1001).status_code == 413  # declared length
    r = client.put(url, content=body(11))  # streamed, no length: refused once past 1,000 bytes
    assert r.status_code == 413 and "1,000 bytes" in r.json()["detail"][0]["message"]
    assert (folder / "last.pt").read_bytes() == b"w" * 1000  # the stored one is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt"]  # no temporary file left
    with SessionLocal() as session:
        row = session.query(Checkpoint).filter_by(run_id=run_id).one()
        assert row.size_bytes == 1000


def test_epoch_reports_are_bounded(client) -> None:
    run_id = claimed(client, epochs=100)
    url = f"/api/worker/runs/{run_id}/epochs"

    def refused(metrics: list[dict], field: str) -> None:
        before = counts()
        raw = json.dumps({"attempt": 1, "metrics": metrics})  # NaN and Infinity as Python writes them
        r = client.post(url, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == field, r.json()
        assert counts() == before

    refused([metric(101)], "metrics[0].epoch")
    refused([{**metric(1), "epoch": 0}], "metrics[0].epoch")
    refused([metric(1, test_acc=1.0000001)], "metrics[0].test_acc")
    refused([metric(1, train_acc=-0.1)], "metrics[0].train_acc")
    refused([{**metric(1), "seconds": -1}], "metrics[0].seconds")
    refused([{**metric(1), "train_loss": math.inf}], "metrics[0].train_loss")
    refused([{**metric(1), "lr": math.nan}], "metrics[0].lr")
    refused([metric(e) for e in range(1, 102)], "metrics")
    refused([], "metrics")
    hundred = [metric(e, test_acc=1.0, train_acc=0.0) for e in range(1, 101)]
    ok = client.post(url, json={"attempt": 1, "metrics": hundred})
    assert ok.status_code == 204 and client.get(f"/api/runs/{run_id}").json()["epochs_done"] == 100


def report(k: int = 2, gallery: int = 1, **overrides) -> dict:
    base = {"epoch": 1, "classes": [f"c{i}" for i in range(k)], "accuracy": 0.5, "per_class_acc": [0.5] * k,
            "confusion": [[1] * k for _ in range(k)],
            "misclassified": [{"index": i, "true": 0, "pred": 1, "png": "iVBORw0KGgo="} for i in range(gallery)]}
    return {**base, **overrides}


def test_evaluations_are_shaped_like_the_classes(client) -> None:
    run_id = claimed(client)
    url = f"/api/worker/runs/{run_id}/evaluation"
    for bad, field, needle in (
            (report(confusion=[[1, 0]]), "report.confusion", "must be 2 x 2"),
            (report(confusion=[[1, 0], [1]]), "report.confusion", "must be 2 x 2"),
            (report(per_class_acc=[0.5]), "report.per_class_acc", "needs one entry per class (2)"),
            (report(gallery=49), "report.misclassified", "at most 48"),
            (report(classes=[f"c{i}" for i in range(101)]), "report.classes", "at most 100"),
            (report(misclassified=[{"index": 0, "true": 2, "pred": 0, "png": ""}]), "report.misclassified[0]",
             "classes are 0..1")):
        r = client.put(url, json={"attempt": 1, "report": bad})
        error = r.json()["detail"][0]
        assert r.status_code == 422 and error["field"] == field and needle in error["message"], (needle, r.json())
    with SessionLocal() as session:
        assert session.get(RunEvaluation, run_id) is None
    assert client.put(url, json={"attempt": 1, "report": report(gallery=48)}).status_code == 204


@pytest.mark.parametrize("path", [
    "/api/runs/7520522694377768146704716005376", "/api/runs/7520522694377768146704716005376/cancel",
    "/api/runs/1/metrics?since_epoch=7520522694377768146704716005376",
    "/api/runs?offset=7520522694377768146704716005376",
    "/api/compare?ids=7520522694377768146704716005376", "/api/studies/2147483648", "/api/sweeps/2147483648",
    "/api/runs?sweep=2147483648"])
def test_integers_outside_the_database_range_are_422_not_500(client, path) -> None:
    method = "POST" if path.endswith("/cancel") else "GET"
    r = client.request(method, path)
    assert r.status_code == 422, r.text
    assert client.get("/api/runs/2147483647").status_code == 404  # the largest id is only missing


def test_open_event_streams_per_user_are_capped(client, monkeypatch) -> None:
    from backend.core.limits import event_streams

    monkeypatch.setattr(settings, "MAX_EVENT_STREAMS_PER_USER", 1)
    run_id = claimed(client)
    me = client.get("/api/me").json()["id"]
    release = event_streams.take(me)  # one stream of this user is open
    try:
        r = client.get(f"/api/runs/{run_id}/events")
        assert r.status_code == 429 and "limit is 1 per user" in r.json()["detail"][0]["message"]
    finally:
        release()
    assert event_streams.count(me) == 0
    client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "succeeded"})
    with client.stream("GET", f"/api/runs/{run_id}/events") as stream:  # a finished run's stream ends by itself
        assert stream.status_code == 200 and "event: status" in stream.read().decode()
    assert event_streams.count(me) == 0  # and gives its slot back


def test_a_superseded_attempt_cannot_write_even_mid_request(client) -> None:
    """The race: attempt 1 has loaded its run (status running, its lease) when the reaper requeues
    the run and attempt 2 claims it. Attempt 1's write then lands: it must store nothing."""
    from backend.runs import service as run_service
    from backend.workers.reaper import sweep_once

    run_id = claimed(client)
    old = client.leases[run_id]
    with SessionLocal() as stale_session:
        stale = stale_session.get(Run, run_id)  # attempt 1 is inside its request, its run in hand
        assert run_service.holds_lease(stale, old)
        with SessionLocal() as session:
            session.get(Run, run_id).heartbeat_at = utcnow() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT_S + 5)
            session.commit()
        assert run_id in sweep_once()["requeued"]
        assert client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h2", "device": "cpu"}).status_code == 200
        from backend.runs.protocol import EpochIn

        with pytest.raises(run_service.Conflict):
            run_service.record_epochs(stale_session, stale, old, [EpochIn(**metric(1, test_acc=0.99))])
        with pytest.raises(run_service.Conflict):
            run_service.finish(stale_session, stale, old, "succeeded", "forged", 1.0)
    body = client.get(f"/api/runs/{run_id}").json()
    assert (body["status"], body["epochs_done"], body["attempt"]) == ("running", 0, 2)


def test_run_ids_are_never_reused(client) -> None:
    first = client.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    client.post(f"/api/runs/{first}/cancel")
    assert client.delete(f"/api/runs/{first}").status_code == 204
    again = client.post("/api/runs", json={"config": tiny_config()}).json()["id"]
    assert again > first


def test_every_datetime_carries_its_offset(client) -> None:
    run = client.post("/api/runs", json={"config": tiny_config()}).json()
    client.post(f"/api/runs/{run['id']}/cancel")
    body = client.get(f"/api/runs/{run['id']}").json()
    for key in ("created_at", "finished_at"):
        assert body[key].endswith(("+00:00", "Z")), body[key]
    tokens = client.get("/api/tokens").json()["data"]
    assert all(t["created_at"].endswith(("+00:00", "Z")) for t in tokens)
    me = client.get("/api/me").json()
    assert me["created_at"].endswith(("+00:00", "Z"))


def test_a_nul_character_is_refused_not_a_server_error(client) -> None:
    assert client.get("/api/runs", params={"q": "a\x00b"}).status_code == 422
    assert client.get("/api/runs", params={"owner": "\x00"}).status_code == 422
    r = client.options("/api/runs/events")
    assert r.status_code == 405 and r.headers["allow"] == "GET"  # not /api/runs/{run_id}'s methods
    assert client.options("/api/runs").headers["allow"] == "GET, POST"


def test_a_run_reading_the_test_set_at_its_end_reports_epochs_without_it_and_its_end_with_it(client) -> None:
    run_id = claimed(client, test_each_epoch=False, epochs=5)
    url = f"/api/worker/runs/{run_id}/epochs"
    before = counts()
    r = client.post(url, json={"attempt": 1, "metrics": [metric(1)]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "metrics[0].test_acc", r.text
    assert "reads the test set once, at its end" in r.json()["detail"][0]["message"] and counts() == before
    epochs = [trial_metric(1, 0.4), trial_metric(2, 0.6), trial_metric(3, 0.5)]
    ok = client.post(url, json={"attempt": 1, "metrics": epochs})
    assert ok.status_code == 204, ok.text
    run = client.get(f"/api/runs/{run_id}").json()
    assert (run["best_epoch"], run["best_val_acc"]) == (2, 0.6)
    assert run["test_acc_at_best_val"] is None and run["best_test_acc"] is None and run["final_test_acc"] is None
    rows = client.get(f"/api/runs/{run_id}/metrics").json()["data"]
    assert [m["test_acc"] for m in rows] == [None, None, None]
    csv_rows = client.get(f"/api/runs/{run_id}/metrics.csv").text.splitlines()
    header = csv_rows[0].split(",")
    assert csv_rows[1].split(",")[header.index("test_acc")] == ""
    evaluation = f"/api/worker/runs/{run_id}/evaluation"
    assert client.put(evaluation, json={"attempt": 1, "report": report(epoch=3, accuracy=0.51)}).status_code == 204
    assert client.get(f"/api/runs/{run_id}").json()["test_acc_at_best_val"] is None  # not the chosen epoch's weights
    assert client.put(evaluation, json={"attempt": 1, "report": report(epoch=2, accuracy=0.55)}).status_code == 204
    assert client.get(f"/api/runs/{run_id}").json()["test_acc_at_best_val"] == 0.55  # the one test read: the headline
    # an epoch re-sent by a resumed attempt keeps the headline while the chosen epoch stays
    assert client.post(url, json={"attempt": 1, "metrics": [trial_metric(3, 0.5)]}).status_code == 204
    assert client.get(f"/api/runs/{run_id}").json()["test_acc_at_best_val"] == 0.55


def test_a_run_reading_the_test_set_every_epoch_must_report_it(client) -> None:
    run_id = claimed(client)
    before = counts()
    r = client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [trial_metric(1, 0.5)]})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "metrics[0].test_acc", r.text
    assert "reads the test set every epoch" in r.json()["detail"][0]["message"] and counts() == before
