"""Classifying images with a run's exported model: latency through the API against eager torch.

    python -m benchmarks.predict_latency

The `compact` preset's ONNX model (weights as initialised: the latency does not depend on what they
learnt), normalised on the real CIFAR-10 training images. Measured in one run, on this machine:

- through the API (`POST /api/runs/{id}/predict`, our backend process, PNG uploads of real test
  images, decoding and resizing included): p50 / p95 for 1 image and for 64 images, and images/s;
- in-process, the same batch of uint8 images: onnxruntime (the backend's session settings) against
  eager torch on the same weights (`torch.no_grad`, float32, the thread count torch picks).
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from backend.core.settings import settings
from backend.core.tables import RunModel
from backend.training.config import TrainConfig
from benchmarks.common import backend_process, cifar10_path, machine
from worker import export as onnx_export
from worker.data import load_dataset
from worker.model import build_model

RESULTS = Path(__file__).parent / "results"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2)}


def timed(call: Any, repeat: int) -> list[float]:
    call()  # warm-up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def main() -> dict[str, Any]:
    data = load_dataset(str(cifar10_path()), cache_dir="var/cache")
    config = TrainConfig.model_validate({"architecture": "compact"})
    model = build_model(config.architecture).eval()
    mean, std = onnx_export.normalisation(data)
    blob, _ = onnx_export.export(model, data, onnx_export.metadata(config, data, mean, std))
    wrapped = onnx_export.Classifier(model, mean, std).eval()
    one, many = data.test_x[:1], data.test_x[:64]
    pngs = []
    for image in data.test_x[:64]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.PREDICT_THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    in_process: dict[str, Any] = {}
    for label, batch in (("1", one), ("64", many)):
        tensor = torch.from_numpy(np.ascontiguousarray(batch))
        with torch.no_grad():
            eager = percentiles(timed(lambda t=tensor: wrapped(t), 200 if label == "1" else 50))
        onnx = percentiles(timed(lambda b=batch: session.run(["logits"], {"images": b}), 200 if label == "1" else 50))
        in_process[label] = {"eager_torch": eager, "onnxruntime": onnx,
                             "onnxruntime_speedup_p50": round(eager["p50_ms"] / onnx["p50_ms"], 2)}

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        with backend_process(url, Path(tmp) / "var") as api:
            run = api.post("/api/runs", json={"config": {"architecture": "compact", "epochs": 1}}).json()
            path = Path(tmp) / "model.onnx"
            path.write_bytes(blob)
            engine = create_engine(url)
            with Session(engine) as db:
                db.add(RunModel(run_id=run["id"], status="ready", path=str(path), size_bytes=len(blob), epoch=1))
                db.commit()
            engine.dispose()

            def post(files: list[bytes]) -> None:
                r = api.post(f"/api/runs/{run['id']}/predict", files=[("files", (f"{i}.png", f, "image/png"))
                                                                     for i, f in enumerate(files)])
                r.raise_for_status()

            through_api = {"1": percentiles(timed(lambda: post(pngs[:1]), 100)),
                           "64": percentiles(timed(lambda: post(pngs), 30))}
    through_api["64"]["images_per_s"] = round(64 / (through_api["64"]["p50_ms"] / 1000), 1)
    through_api["1"]["images_per_s"] = round(1 / (through_api["1"]["p50_ms"] / 1000), 1)
    out = {"machine": machine(), "preset": "compact", "model_bytes": len(blob), "api": through_api,
           "in_process": in_process, "predict_threads": settings.PREDICT_THREADS}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict_latency.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
