"""What the studies tests do through the API: find a shipped study, and finish a run as a worker
reports it."""

from __future__ import annotations

PNG = "iVBORw0KGgo="


def shipped(client, slug: str) -> dict:
    return next(s for s in client.get("/api/studies").json()["data"] if s["slug"] == slug)


def finish(client, run_id: int, tests: list[float], trains: list[float], report: bool = True,
           vals: list[float] | None = None) -> None:
    """The run trained, as a worker reports it: validation accuracy ``vals`` (the test accuracies
    when not given) where the run holds out validation images."""
    holdout = client.get(f"/api/runs/{run_id}").json()["config"]["data"]["holdout"]
    attempt = client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).json()["attempt"]
    metrics = [{"epoch": i + 1, "train_loss": 1.0, "train_acc": tr, "test_loss": 1.1, "test_acc": te, "lr": 0.1,
                "seconds": 30.0} for i, (te, tr) in enumerate(zip(tests, trains, strict=True))]
    if holdout:
        for m, v in zip(metrics, vals or tests, strict=True):
            m.update(val_acc=v, val_loss=1.05)
    assert client.post(f"/api/worker/runs/{run_id}/epochs",
                       json={"attempt": attempt, "metrics": metrics}).status_code == 204
    if report:
        rep = {"epoch": 1, "classes": ["a", "b"], "accuracy": 0.5, "per_class_acc": [1.0, 0.0],
               "confusion": [[1, 0], [1, 0]], "misclassified": [{"index": 1, "true": 1, "pred": 0, "png": PNG}]}
        assert client.put(f"/api/worker/runs/{run_id}/evaluation",
                          json={"attempt": attempt, "report": rep}).status_code == 204
    assert client.post(f"/api/worker/runs/{run_id}/finish",
                       json={"attempt": attempt, "status": "succeeded"}).status_code == 204
