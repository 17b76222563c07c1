"""Every change of a run's model export (exporting, failed, ready) is told as a change of its run:
the topic ``run:{id}`` (backend.core.events.run_topic) moves after each commit, so the run's event
stream follows an export without polling."""

from __future__ import annotations

from backend.core import events
from tests.utils.factories import metric, tiny_config


def version(run_id: int) -> int:
    return events.board.versions([events.run_topic(run_id)])[-1]


def test_each_status_of_an_export_moves_the_runs_topic(client) -> None:
    rid = client.post("/api/runs", json={"name": "exported", "config": tiny_config(epochs=1)}).json()["id"]
    client.post(f"/api/worker/runs/{rid}/claim", json={"host": "h", "device": "cpu"})
    client.post(f"/api/worker/runs/{rid}/epochs", json={"attempt": 1, "metrics": [metric(1)]})
    client.put(f"/api/worker/runs/{rid}/checkpoints/best?attempt=1&epoch=1", content=b"weights",
               headers={"Content-Type": "application/octet-stream"})
    client.post(f"/api/worker/runs/{rid}/finish", json={"attempt": 1, "status": "succeeded"})

    before = version(rid)
    assert client.post(f"/api/runs/{rid}/export").json() == {"status": "exporting"}
    assert version(rid) == before + 1  # exporting

    lease = client.post(f"/api/worker/runs/{rid}/export/claim").json()["lease"]
    before = version(rid)
    assert client.post(f"/api/worker/runs/{rid}/model/failure", json={"reason": "parity"},
                       headers={"X-Run-Lease": lease}).status_code == 204
    assert version(rid) == before + 1  # failed
    assert client.get(f"/api/runs/{rid}/model-card").json()["model"]["status"] == "failed"

    assert client.post(f"/api/runs/{rid}/export").status_code == 202  # asked again
    lease = client.post(f"/api/worker/runs/{rid}/export/claim").json()["lease"]
    before = version(rid)
    assert client.put(f"/api/worker/runs/{rid}/model?epoch=1", content=b"onnx bytes",
                      headers={"Content-Type": "application/octet-stream", "X-Run-Lease": lease}).status_code == 204
    assert version(rid) == before + 1  # ready
