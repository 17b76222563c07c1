"""A run as a classifier, through the API: the worker's upload of its checked ONNX model, the
download, the model card, and classifying uploaded images (onnxruntime in the backend) — with
every bad input refused and nothing else done."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from backend.core.settings import settings
from backend.models import prediction
from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from tests.utils.factories import metric, tiny_config
from worker import checkpoint
from worker import export as onnx_export
from worker.data import _decode
from worker.model import build_model
from worker.trainer import train

ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 3, "name": "tiny3"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny net trained on generated data, exported as the runner exports it: (onnx bytes, data)."""
    data = make_arrays(classes=3, train_per_class=20, test_per_class=8)
    folder = tmp_path_factory.mktemp("ckpt")
    config = TrainConfig.model_validate(tiny_config(architecture=ARCH, epochs=6, batch_size=8, lr=0.05,
                                                    data={"holdout": 0}))
    train(config, data, checkpoint_dir=folder, log=None)
    state = checkpoint.load(folder / "best.pt")
    model = build_model(config.architecture)
    model.load_state_dict(state["model"])
    mean, std = onnx_export.normalisation(data)
    accuracy = checkpoint.headline_test_acc(state)
    blob, _ = onnx_export.export(model, data, onnx_export.metadata(config, data, mean, std, 1, accuracy))
    return blob, data


def finished_run(client, model: bytes | None = None, failure: str | None = None) -> int:
    run = client.post("/api/runs", json={"name": "clf", "config": tiny_config(architecture=ARCH, epochs=2)}).json()
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    client.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": 1, "metrics": [metric(1, 0.5, val_acc=0.55),
                                                                          metric(2, 0.48, val_acc=0.6)]})
    if model is not None:
        r = client.put(f"/api/worker/runs/{run['id']}/model?epoch=2", content=model,
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
    if failure is not None:
        assert client.post(f"/api/worker/runs/{run['id']}/model/failure", json={"reason": failure}).status_code == 204
    assert client.post(f"/api/worker/runs/{run['id']}/finish", json={"attempt": 1, "status": "succeeded"}) \
        .status_code == 204
    return run["id"]


def png(image: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(out, format=fmt)
    return out.getvalue()


def test_a_trained_model_classifies_its_training_images_through_the_api(client, trained) -> None:
    blob, data = trained
    run_id = finished_run(client, blob)
    files = [("files", (f"img{i}.png", png(data.train_x[i]), "image/png")) for i in range(0, 60, 3)]
    r = client.post(f"/api/runs/{run_id}/predict?k=2", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["k"] == 2 and len(body["data"]) == 20
    first = body["data"][0]
    assert first["file"] == "img0.png" and len(first["top"]) == 2 and first["ms"] >= 0
    assert first["top"][0]["probability"] >= first["top"][1]["probability"]
    assert {t["class"] for t in first["top"]} <= set(data.classes)
    predicted = [d["top"][0]["index"] for d in body["data"]]
    accuracy = np.mean(np.array(predicted) == data.train_y[0:60:3])
    assert accuracy > 0.6, accuracy  # three classes: chance is a third

    download = client.get(f"/api/runs/{run_id}/model.onnx")
    assert download.status_code == 200 and download.content == blob
    card = client.get(f"/api/runs/{run_id}/model-card").json()
    assert card["params"] > 0 and card["model"]["status"] == "ready" and card["model"]["epoch"] == 2
    assert card["architecture"]["name"] == "tiny3" and card["config"]["epochs"] == 2 and card["owner"] == "alice"
    mean, std = onnx_export.normalisation(data)
    assert card["normalisation"]["mean"] == pytest.approx(mean.tolist(), abs=1e-5)
    assert card["normalisation"]["std"] == pytest.approx(std.tolist(), abs=1e-5)
    assert len(card["layers"]) > 0 and card["seed"] == 0 and card["dataset"]["source"] == "cifar10"
    md = client.get(f"/api/runs/{run_id}/model-card.md")
    assert md.headers["content-type"].startswith("text/markdown") and "# Model card: run" in md.text
    assert "- Normalisation: mean [" in md.text and "## Layers" in md.text and "## Training config" in md.text
    # chosen on validation: epoch 2 (val 60%), though epoch 1 had the better test accuracy
    assert card["selected_on"] == "val" and card["chosen_epoch"] == 2 and card["test_accuracy"] == pytest.approx(0.48)
    assert "- Weights chosen on 50 held-out training images at epoch 2 (validation accuracy 60.00%)" in md.text


def test_other_sizes_and_modes_are_prepared_like_the_loader(trained) -> None:
    rgb = make_arrays(classes=3, train_per_class=1, test_per_class=1, size=300).train_x[0]
    for image in (Image.fromarray(rgb).convert("L"), Image.fromarray(rgb).convert("RGBA"),
                  Image.fromarray(rgb).resize((640, 480)), Image.fromarray(rgb)):
        data = png(image)
        assert np.array_equal(prediction.prepare(data, 32, 0, "x.png"), _decode(data, "x.png", 32))
    jpeg = png(Image.fromarray(rgb), "JPEG")
    assert prediction.prepare(jpeg, 32, 0, "x.jpg").shape == (32, 32, 3)


def test_bad_input_is_refused_and_nothing_else_happens(client, trained, monkeypatch) -> None:
    blob, data = trained
    run_id = finished_run(client, blob)
    good = ("files", ("ok.png", png(data.train_x[0]), "image/png"))
    text = ("files", ("notes.txt", b"not an image", "text/plain"))
    r = client.post(f"/api/runs/{run_id}/predict", files=[good, text])
    assert r.status_code == 422
    assert r.json()["detail"] == [{"field": "files[1]", "message": r.json()["detail"][0]["message"]}]
    assert "'notes.txt' is not a readable image" in r.json()["detail"][0]["message"]
    monkeypatch.setattr(settings, "PREDICT_MAX_FILES", 2)
    r = client.post(f"/api/runs/{run_id}/predict", files=[good] * 3)
    assert r.status_code == 413 and "over the limit of 2 (CNNLAB_PREDICT_MAX_FILES)" in r.json()["detail"][0]["message"]
    monkeypatch.setattr(settings, "PREDICT_MAX_BYTES", 1000)
    r = client.post(f"/api/runs/{run_id}/predict", files=[good])
    assert r.status_code == 413 and "CNNLAB_PREDICT_MAX_BYTES" in r.json()["detail"][0]["message"]
    monkeypatch.setattr(settings, "PREDICT_MAX_BYTES", 16 * 1_048_576)
    r = client.post(f"/api/runs/{run_id}/predict?k=0", files=[good])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "k"


def test_a_run_without_a_model_says_why_and_how_to_export(client) -> None:
    never = finished_run(client)
    r = client.post(f"/api/runs/{never}/predict", files=[("files", ("a.png", png(np.zeros((8, 8, 3), np.uint8)),
                                                                    "image/png"))])
    assert r.status_code == 409 and "finished before cnnlab exported models" in r.json()["detail"]
    assert f"python -m worker.export {never} --onnx" in r.json()["detail"]
    failed = finished_run(client, failure="onnxruntime's logits differ from torch's by 3.1e-02")
    r = client.get(f"/api/runs/{failed}/model.onnx")
    assert r.status_code == 409 and "its export failed: onnxruntime's logits differ" in r.json()["detail"]
    assert client.get(f"/api/runs/{failed}/model-card").json()["model"]["status"] == "failed"


def test_the_session_cache_is_bounded(client, trained, monkeypatch) -> None:
    blob, data = trained
    monkeypatch.setattr(settings, "PREDICT_CACHE_MODELS", 2)
    runs = [finished_run(client, blob) for _ in range(3)]
    file = [("files", ("ok.png", png(data.train_x[0]), "image/png"))]
    for run_id in runs:
        assert client.post(f"/api/runs/{run_id}/predict", files=file).status_code == 200
    assert prediction.cached()[-2:] == runs[1:] and runs[0] not in prediction.cached()
    assert len(prediction.cached()) <= 2


def test_an_export_asked_for_later_is_done_under_its_own_lease(client, trained) -> None:
    blob, data = trained
    run = client.post("/api/runs", json={"name": "old", "config": tiny_config(architecture=ARCH, epochs=1)}).json()
    rid = run["id"]
    assert client.post(f"/api/runs/{rid}/export").status_code == 409  # queued: nothing to export yet
    client.post(f"/api/worker/runs/{rid}/claim", json={"host": "h", "device": "cpu"})
    client.post(f"/api/worker/runs/{rid}/epochs", json={"attempt": 1, "metrics": [metric(1)]})
    client.put(f"/api/worker/runs/{rid}/checkpoints/best?attempt=1&epoch=1", content=b"weights",
               headers={"Content-Type": "application/octet-stream"})
    client.post(f"/api/worker/runs/{rid}/finish", json={"attempt": 1, "status": "succeeded"})
    assert client.as_user("bob").post(f"/api/runs/{rid}/export").status_code == 403  # not bob's run
    r = client.post(f"/api/runs/{rid}/export")
    assert r.status_code == 202 and r.json() == {"status": "exporting"}
    assert client.get(f"/api/runs/{rid}/model-card").json()["model"]["status"] == "exporting"
    assert "being exported" in client.post(f"/api/runs/{rid}/export").json()["detail"]
    assert "being exported" in client.get(f"/api/runs/{rid}/model.onnx").json()["detail"]
    claim = client.post(f"/api/worker/runs/{rid}/export/claim")
    assert claim.status_code == 200 and claim.json()["best_epoch"] == 1
    lease = claim.json()["lease"]
    wrong = client.put(f"/api/worker/runs/{rid}/model?epoch=1", content=blob,
                       headers={"Content-Type": "application/octet-stream", "X-Run-Lease": "not the lease"})
    assert wrong.status_code == 409
    best = client.get(f"/api/worker/runs/{rid}/checkpoints/best", headers={"X-Run-Lease": lease})
    assert best.status_code == 200 and best.content == b"weights"
    stored = client.put(f"/api/worker/runs/{rid}/model?epoch=1", content=blob,
                        headers={"Content-Type": "application/octet-stream", "X-Run-Lease": lease})
    assert stored.status_code == 204
    assert client.get(f"/api/runs/{rid}/model-card").json()["model"]["status"] == "ready"
    assert client.post(f"/api/worker/runs/{rid}/export/claim").status_code == 409  # nothing waiting any more
    again = client.put(f"/api/worker/runs/{rid}/model?epoch=1", content=blob,
                       headers={"Content-Type": "application/octet-stream", "X-Run-Lease": lease})
    assert again.status_code == 409  # the lease ended with the export
    files = [("files", ("a.png", png(data.train_x[0]), "image/png"))]
    assert client.post(f"/api/runs/{rid}/predict", files=files).status_code == 200


def test_a_stored_model_damaged_on_disk_is_a_409_that_says_so_and_the_card_still_answers(client, trained) -> None:
    from pathlib import Path

    from backend.core.db import SessionLocal
    from backend.core.tables import RunModel

    blob, data = trained
    run_id = finished_run(client, blob)
    with SessionLocal() as session:
        path = Path(session.get(RunModel, run_id).path)
    path.write_bytes(blob[: len(blob) // 3])  # cut short, as a failing disk might leave it
    r = client.post(f"/api/runs/{run_id}/predict", files=[("files", ("ok.png", png(data.train_x[0]), "image/png"))])
    assert r.status_code == 409, r.text
    (error,) = r.json()["detail"]
    assert error["field"] == "model"
    assert "cannot be loaded" in error["message"] and "export it again" in error["message"]
    card = client.get(f"/api/runs/{run_id}/model-card")
    assert card.status_code == 200, card.text
    assert card.json()["normalisation"]["mean"] is None and "cannot be loaded" in card.json()["normalisation"]["note"]
    markdown = client.get(f"/api/runs/{run_id}/model-card.md")
    assert markdown.status_code == 200 and "Normalisation: unknown" in markdown.text
