"""The REST API in-process on SQLite, with the worker's calls made by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.core import queue
from backend.core.db import SessionLocal
from backend.core.tables import Run, utcnow
from tests.utils.factories import TINY_ARCH, metric, tiny_config


def submit(client, name="run", owner="alice", **overrides) -> dict:
    r = client.as_user(owner).post("/api/runs", json={"name": name, "owner": owner, "config": tiny_config(**overrides)})
    assert r.status_code == 201, r.text
    return r.json()


def claim(client, run_id: int) -> int:
    r = client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
    assert r.status_code == 200, r.text
    return r.json()["attempt"]


def test_create_run_stores_full_config_and_size(client) -> None:
    before = queue.queued_message_count()
    run = submit(client)
    assert run["status"] == "queued" and run["architecture"] == "tiny"
    assert run["config"]["architecture"]["stages"] == [[8], [16]]
    assert run["params"] > 0 and run["macs"] > 0
    assert queue.queued_message_count() == before + 1


def test_preset_name_is_expanded_and_named(client) -> None:
    r = client.post("/api/runs", json={"config": {"architecture": "wide_deep"}})
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "wide_deep" and body["params"] == 253_638 and body["macs"] == 12_509_136
    assert body["owner"] == "alice"  # the caller


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"config": {"architecture": "wide", "epochs": 0}}, "config.epochs", "greater than or equal to 1"),
        ({"config": {"architecture": "wide", "lr": -1}}, "config.lr", "greater than 0"),
        ({"config": {"architecture": {"stages": [[8, 0]]}}}, "config.architecture.stages[0][1]", "at least 1"),
        ({"config": {"architecture": {"stages": [[8]] * 6}}}, "config.architecture.stages", "at most 5"),
        ({"config": {"architecture": {"stages": [[8]], "dropout_hidden": 1}}},
         "config.architecture.dropout_hidden", "[0, 1)"),
        ({"config": {"architecture": "nope"}}, "config.architecture.preset", "unknown preset"),
        ({"config": {"architecture": "wide", "batch_size": 0}}, "config.batch_size", "greater than or equal to 1"),
        ({"config": {"architecture": "wide", "optimizer": "rmsprop"}}, "config.optimizer",
         "'sgd', 'adam', 'adamw' or 'muon'"),
        ({"config": {"architecture": "wide", "schedule": "exp"}}, "config.schedule", "'constant', 'step'"),
        ({"config": {"architecture": "wide", "weight_decay": -0.1}},
         "config.weight_decay", "greater than or equal to 0"),
        ({"config": {"architecture": "wide", "label_smoothing": 2}}, "config.label_smoothing", "less than 1"),
        ({"config": {"architecture": "wide", "early_stopping_patience": 0}},
         "config.early_stopping_patience", "greater than or equal to 1"),
        ({"config": {"architecture": "wide", "time_budget_s": 0}}, "config.time_budget_s", "greater than 0"),
        ({"config": {"architecture": "wide", "augment": {"padding": 99}}},
         "config.augment.padding", "less than or equal to 16"),
        ({"config": {"architecture": "wide", "data": {"test_limit": -3}}},
         "config.data.test_limit", "greater than or equal to 1"),
        ({"config": {"architecture": "wide", "tta_shift": 9}}, "config.tta_shift", "less than or equal to 8"),
        ({"config": {"architecture": "wide", "ema_epochs": -1}}, "config.ema_epochs", "greater than 0"),
        ({"config": {"architecture": "wide", "augment": {"flip": False, "alternate_flip": True}}},
         "config.augment.alternate_flip", "needs augment.flip on"),
        ({"config": {"architecture": {"family": "compact", "stages": [[8]], "activation": "tanh"}}},
         "config.architecture.activation", "'relu', 'gelu' or 'gelu_tanh'"),
        ({"config": {"architecture": "wide", "turbo": True}}, "config.turbo", "Extra inputs"),
        ({"name": "x" * 201, "config": {"architecture": "wide"}}, "name", "at most 200 characters"),
        ({"owner": "", "config": {"architecture": "wide"}}, "owner", "at least 1 character"),
        ({}, "config", "Field required"),
    ],
)
def test_invalid_body_is_refused_by_field_and_queues_nothing(client, body, field, needle) -> None:
    runs_before = client.get("/api/runs").json()["count"]
    queued_before = queue.queued_message_count()
    r = client.post("/api/runs", json=body)
    assert r.status_code == 422, r.text
    first = r.json()["detail"][0]
    assert first["field"] == field, r.json()
    assert needle in first["message"], r.json()
    assert client.get("/api/runs").json()["count"] == runs_before
    assert queue.queued_message_count() == queued_before


def test_over_budget_is_refused_naming_count_and_budget(client) -> None:
    queued_before = queue.queued_message_count()
    big = {"stages": [[64, 64], [128, 128]], "hidden": [256]}
    r = client.post("/api/runs", json={"config": {"architecture": big}})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "config.architecture"
    assert "over the budget of 256,000" in detail["message"] and "parameters" in detail["message"]
    assert queue.queued_message_count() == queued_before


def test_unknown_ids_give_404(client) -> None:
    assert client.get("/api/runs/999999").status_code == 404
    assert client.get("/api/runs/999999/metrics").status_code == 404
    assert client.post("/api/runs/999999/cancel").status_code == 404
    assert client.delete("/api/runs/999999").status_code == 404
    assert client.get("/api/runs/999999/events").status_code == 404
    assert client.get("/api/sweeps/999999").status_code == 404
    assert client.get("/api/compare?ids=999999").status_code == 404


def test_worker_lifecycle_records_epochs_and_summary(client) -> None:
    run = submit(client, name="lifecycle")
    attempt = claim(client, run["id"])
    assert attempt == 1
    for e, acc in ((1, 0.4), (2, 0.7), (3, 0.6)):
        r = client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(e, acc, 0.9)]})
        assert r.status_code == 204
    # a resumed attempt may send an epoch again: it replaces, never duplicates
    client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(3, 0.65, 0.9)]})
    body = client.get(f"/api/runs/{run['id']}").json()
    assert body["status"] == "running" and body["epochs_done"] == 3
    assert body["best_test_acc"] == pytest.approx(0.7) and body["best_epoch"] == 2
    assert body["last_test_acc"] == pytest.approx(0.65)
    assert body["train_test_gap"] == pytest.approx(0.25)
    assert [m["epoch"] for m in client.get(f"/api/runs/{run['id']}/metrics").json()["data"]] == [1, 2, 3]
    assert [m["epoch"] for m in client.get(f"/api/runs/{run['id']}/metrics?since_epoch=2").json()["data"]] == [3]
    r = client.put(f"/api/worker/runs/{run['id']}/checkpoints/best?attempt=1&epoch=2", content=b"weights")
    assert r.status_code == 204
    assert client.delete(f"/api/runs/{run['id']}").status_code == 409  # refused while it runs
    r = client.post(f"/api/worker/runs/{run['id']}/finish",
                    json={"attempt": 1, "status": "succeeded", "reason": "completed 3 epochs"})
    assert r.status_code == 204
    body = client.get(f"/api/runs/{run['id']}").json()
    assert body["status"] == "succeeded" and body["reason"] == "completed 3 epochs" and body["finished_at"]
    download = client.get(f"/api/runs/{run['id']}/checkpoints/best")
    assert download.content == b"weights" and download.headers["x-checkpoint-epoch"] == "2"
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code == 409  # finished
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
    assert client.get(f"/api/runs/{run['id']}").status_code == 404


def test_a_run_is_claimed_once_and_a_stale_attempt_is_refused(client) -> None:
    run = submit(client)
    assert claim(client, run["id"]) == 1
    again = client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h2", "device": "cpu"})
    assert again.status_code == 409
    stale = client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(1)]},
                        headers={"X-Run-Lease": "not-the-lease"})
    assert stale.status_code == 409


def test_cancel_queued_never_starts_and_cancel_running_asks_the_worker(client) -> None:
    queued = submit(client)
    r = client.post(f"/api/runs/{queued['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/api/worker/runs/{queued['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 409

    running = submit(client)
    attempt = claim(client, running["id"])
    r = client.post(f"/api/runs/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["cancel_requested"]
    beat = client.post(f"/api/worker/runs/{running['id']}/heartbeat", json={"attempt": attempt}).json()
    assert beat == {"status": "running", "cancel_requested": True, "prune_requested": False, "current": True}


def test_reaper_requeues_a_run_whose_worker_went_silent(client) -> None:
    from backend.core.settings import settings
    from backend.workers.reaper import sweep_once

    run = submit(client)
    claim(client, run["id"])
    client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(1)]})
    with SessionLocal() as session:
        row = session.get(Run, run["id"])
        row.heartbeat_at = utcnow() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT_S + 5)
        session.commit()
    before = queue.queued_message_count()
    result = sweep_once()
    assert run["id"] in result["requeued"]
    body = client.get(f"/api/runs/{run['id']}").json()
    assert body["status"] == "queued" and "resuming from its last checkpoint" in body["reason"]
    assert body["epochs_done"] == 1  # nothing recorded is lost
    assert queue.queued_message_count() == before + 1
    # the lost worker's attempt is superseded; the next claim is attempt 2
    assert client.post(f"/api/worker/runs/{run['id']}/heartbeat", json={"attempt": 1}).json()["current"] is False
    assert claim(client, run["id"]) == 2


def test_list_filters_sorts_and_paginates(client) -> None:
    ids = [submit(client, name=f"listing-{i}", owner="bob", seed=i)["id"] for i in range(5)]
    r = client.get("/api/runs", params={"owner": "bob", "sort": "seed", "limit": 2, "offset": 1})
    body = r.json()
    assert body["count"] == 5 and [x["seed"] for x in body["data"]] == [1, 2]
    r = client.get("/api/runs", params={"q": "LISTING-3"}).json()
    assert [x["id"] for x in r["data"]] == [ids[3]]
    assert all(x["status"] == "queued" for x in client.get("/api/runs", params={"status": "queued"}).json()["data"])
    r = client.get("/api/runs", params={"sort": "-bogus"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "sort"
    r = client.get("/api/runs", params={"status": "sleeping"})
    assert r.status_code == 422 and "unknown status 'sleeping'" in r.json()["detail"][0]["message"]
    r = client.get("/api/runs", params={"limit": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "limit"


def test_compare_returns_series_and_summaries_in_order(client) -> None:
    a, b = submit(client, name="cmp-a"), submit(client, name="cmp-b")
    claim(client, a["id"])
    client.post(f"/api/worker/runs/{a['id']}/epochs", json={"attempt": 1, "metrics": [metric(1), metric(2, 0.8)]})
    r = client.get(f"/api/compare?ids={b['id']},{a['id']}")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [d["run"]["id"] for d in data] == [b["id"], a["id"]]
    assert data[0]["series"]["epoch"] == [] and data[1]["series"]["epoch"] == [1, 2]
    assert data[1]["series"]["test_acc"] == [0.5, 0.8]
    too_many = ",".join(str(i) for i in range(1, 102))
    r = client.get(f"/api/compare?ids={too_many}")
    assert r.status_code == 422 and "over the limit of 100" in r.json()["detail"][0]["message"]
    assert client.get("/api/compare?ids=a,b").json()["detail"][0]["field"] == "ids"


def test_sweep_makes_one_run_per_grid_point(client) -> None:
    base = tiny_config()
    r = client.post("/api/sweeps", json={"name": "bs", "base_config": base, "grid": {"batch_size": [4, 8, 16, 32]}})
    assert r.status_code == 201, r.text
    sweep = r.json()
    assert [run["name"] for run in sweep["runs"]] == [f"bs batch_size={b}" for b in (4, 8, 16, 32)]
    again = client.get(f"/api/sweeps/{sweep['id']}").json()
    assert len(again["runs"]) == 4
    listed = client.get("/api/runs", params={"sweep": sweep["id"]}).json()
    assert listed["count"] == 4
    run = client.get(f"/api/runs/{sweep['runs'][0]['id']}").json()
    assert run["config"]["batch_size"] == 4


def test_sweep_over_a_nested_field_and_a_preset(client) -> None:
    r = client.post("/api/sweeps", json={"name": "drop", "base_config": {"architecture": "wide_deep"},
                                         "grid": {"architecture.dropout_hidden": [0.0, 0.25], "augment.crop": [True]}})
    assert r.status_code == 201, r.text
    runs = r.json()["runs"]
    assert len(runs) == 2 and runs[1]["params"] == 253_638


def test_invalid_sweep_point_is_refused_and_nothing_is_created(client) -> None:
    count = client.get("/api/runs").json()["count"]
    r = client.post("/api/sweeps", json={"name": "bad", "base_config": tiny_config(), "grid": {"batch_size": [8, 0]}})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "base_config.batch_size" and "grid point {'batch_size': 0}" in detail["message"]
    assert client.get("/api/runs").json()["count"] == count
    r = client.post("/api/sweeps", json={"name": "empty", "base_config": tiny_config(), "grid": {"seed": []}})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "grid.seed"


def test_presets_and_architecture_summary(client) -> None:
    presets = client.get("/api/presets").json()
    names = [p["architecture"] for p in presets["data"]]
    assert {"wide", "deep", "wide_deep", "wide_deep_bn", "wide_deep_dropout", "compact"} <= set(names)
    assert presets["param_budget"] == 256_000
    r = client.post("/api/architectures/summary", json={"architecture": TINY_ARCH}).json()
    assert r["rows"][0]["name"] == "conv1" and r["budget"]["within_budget"] is True
    too_big = {"stages": [[128, 128], [256]], "hidden": [512]}
    r = client.post("/api/architectures/summary", json={"architecture": too_big}).json()
    assert r["budget"]["within_budget"] is False and "over the budget of 256,000" in r["budget"]["message"]
    r = client.post("/api/architectures/summary", json={"architecture": {"stages": [[8, -2]]}})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "architecture.stages[0][1]"


def test_events_stream_sends_recorded_epochs_and_the_final_status(client) -> None:
    run = submit(client)
    claim(client, run["id"])
    client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(1), metric(2)]})
    client.post(f"/api/worker/runs/{run['id']}/finish", json={"attempt": 1, "status": "succeeded"})
    with client.stream("GET", f"/api/runs/{run['id']}/events", headers={"Last-Event-ID": "1"}) as response:
        text = "".join(response.iter_text())
    events = [dict(line.split(": ", 1) for line in block.splitlines()) for block in text.strip().split("\n\n")]
    assert events[0] == {"retry": "1000"}
    metrics = [e for e in events if e.get("event") == "metric"]
    assert metrics and metrics[0]["id"] == "2" and metrics[0]["data"].startswith('{"epoch":2')
    assert '"epoch":1,' not in text  # Last-Event-ID: only what was missed
    assert events[-1]["event"] == "status" and '"status":"succeeded"' in events[-1]["data"]  # the stream ends there


def test_health_reports_database_and_broker(client) -> None:
    assert client.get("/api/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_class_report_is_stored_and_served(client) -> None:
    run = submit(client)
    attempt = claim(client, run["id"])
    assert client.get(f"/api/runs/{run['id']}/evaluation").status_code == 404
    report = {"epoch": 2, "classes": ["a", "b"], "accuracy": 0.75, "views": "image + mirror",
              "per_class_acc": [1.0, 0.5], "confusion": [[2, 0], [1, 1]],
              "misclassified": [{"index": 3, "true": 1, "pred": 0, "png": "iVBORw0KGgo="}]}
    r = client.put(f"/api/worker/runs/{run['id']}/evaluation", json={"attempt": attempt, "report": report})
    assert r.status_code == 204
    assert client.get(f"/api/runs/{run['id']}/evaluation").json() == report
    older = {k: v for k, v in report.items() if k != "views"}  # a report from before views were named
    client.put(f"/api/worker/runs/{run['id']}/evaluation", json={"attempt": attempt, "report": older})
    assert client.get(f"/api/runs/{run['id']}/evaluation").json() == {**older, "views": "image"}
    bad = {**report, "misclassified": [{"index": 0, "true": 0, "pred": 1, "png": "<script>"}]}
    r = client.put(f"/api/worker/runs/{run['id']}/evaluation", json={"attempt": attempt, "report": bad})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "report.misclassified[0].png"
    stale = client.put(f"/api/worker/runs/{run['id']}/evaluation", json={"attempt": attempt, "report": report},
                       headers={"X-Run-Lease": "a-lease-of-nobody"})
    assert stale.status_code == 409


def test_time_budget_over_the_lab_setting_is_refused(client) -> None:
    r = client.post("/api/runs", json={"config": {"architecture": "wide", "time_budget_s": 7200}})
    assert r.status_code == 422
    assert r.json()["detail"][0] == {"field": "config.time_budget_s",
                                     "message": "7200 s is over the lab's time budget of 3600 s"}


@pytest.mark.parametrize("source", ["/etc", "../secrets", "data/../../x"])
def test_data_source_outside_the_lab_data_folder_is_refused(client, source) -> None:
    r = client.post("/api/runs", json={"config": {"architecture": "wide", "data": {"source": source}}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "config.data.source"
    assert "inside the lab's data folder" in r.json()["detail"][0]["message"]


def test_a_quiet_event_stream_sends_keep_alive_comments(client, monkeypatch) -> None:
    from backend.api import streams

    monkeypatch.setattr(streams, "KEEPALIVE_S", 0.3)
    run = submit(client)  # queued: after its first status, nothing happens
    seen = []
    with client.stream("GET", f"/api/runs/{run['id']}/events") as response:
        for line in response.iter_lines():
            seen.append(line)
            if line.startswith(": ping"):
                break
    assert any(line.startswith("event: status") for line in seen) and seen[-1].startswith(": ping")
    client.post(f"/api/runs/{run['id']}/cancel")
