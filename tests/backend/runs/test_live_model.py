"""A run's event stream carries its model's export (the `model` event the run page's "Try it"
follows): a finished run's stream stays open while its model is being exported, and ends once the
export is ready, with the model's word from the vocabulary."""

from __future__ import annotations

import json

from backend.core import events
from backend.core.db import SessionLocal
from backend.core.statuses import ModelStatus
from backend.core.tables import RunModel
from tests.utils.factories import metric, tiny_config


def finished_run(client) -> int:
    r = client.post("/api/runs", json={"name": "exported", "config": tiny_config()})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    client.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [metric(1)]})
    client.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "succeeded"})
    return run_id


def set_model(run_id: int, status: ModelStatus) -> None:
    with SessionLocal() as session:
        row = session.get(RunModel, run_id) or RunModel(run_id=run_id, status=status)
        row.status = status
        session.merge(row)
        session.commit()
    events.changed(run_id)


def blocks(text: str) -> list[dict[str, str]]:
    return [dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            for block in text.strip().split("\n\n") if block.strip()]


def test_a_finished_run_without_a_model_ends_with_its_status_and_says_nothing_of_one(client) -> None:
    run_id = finished_run(client)
    with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        text = "".join(response.iter_text())
    sent = blocks(text)
    assert "model" not in [e.get("event") for e in sent] and sent[-1]["event"] == "status"


def test_the_stream_follows_an_export_until_the_model_is_ready(client) -> None:
    run_id = finished_run(client)
    set_model(run_id, ModelStatus.EXPORTING)
    seen: list[str] = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        for line in response.iter_lines():
            seen.append(line)
            if line.startswith("event: status"):  # the run is finished, its model still being exported: still open
                set_model(run_id, ModelStatus.READY)
    sent = blocks("\n".join(seen))
    models = [json.loads(e["data"]) for e in sent if e.get("event") == "model"]
    assert [m["status"] for m in models] == [ModelStatus.EXPORTING, ModelStatus.READY]
    assert sent[-1]["event"] == "model"  # the stream ended there, the export done
