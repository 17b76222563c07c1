"""A trained run as a classifier anyone can use: ONNX, checked against torch before it is kept.

The graph takes what a data loader holds — ``images``: uint8, (N, H, W, 3), RGB, H = W = the
network's input size — and does the rest itself: NCHW, float, the dataset's per-channel
normalisation, the network; it returns ``logits`` (N, classes). The batch is dynamic, the opset
fixed (``OPSET``). The model's metadata carries the class names, the run, its architecture,
params, MACs, test accuracy and the normalisation (``metadata``).

    python -m worker.export checkpoint.pt --onnx model.onnx   # a best.pt / last.pt of any run
    python -m worker.export 42 --onnx model.onnx              # run 42's best weights, from the lab
                                                              # (CNNLAB_URL, CNNLAB_TOKEN)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from backend.architecture import summarize
from backend.core.settings import settings
from backend.training.config import TrainConfig
from worker import checkpoint
from worker.data import DatasetError, ImageDataset, load_dataset, resolve_source, run_split
from worker.device import DeviceData
from worker.model import build_model

OPSET = 18
PARITY_ATOL = 1e-4  # onnxruntime's logits within this of torch's, or the export is refused
PARITY_IMAGES = 64
INPUT_FORMAT = "uint8 NHWC RGB"


class ExportFailed(RuntimeError):
    """An export that is not kept: the reason is recorded on the run (which stays succeeded)."""


class Classifier(nn.Module):
    """uint8 NHWC RGB images → logits, the dataset's normalisation inside."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.reshape(1, 3, 1, 1).float())
        self.register_buffer("std", std.reshape(1, 3, 1, 1).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()
        logits: torch.Tensor = self.model((x - self.mean) / self.std)
        return logits


def normalisation(data: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images' per-channel mean and std, exactly as the trainer normalised them."""
    on_cpu = DeviceData(ImageDataset(data.train_x, data.train_y, data.test_x[:0], data.test_y[:0], data.classes),
                        torch.device("cpu"), channels_last=False)
    return on_cpu.mean.flatten(), on_cpu.std.flatten()


def metadata(config: TrainConfig, data: ImageDataset, mean: torch.Tensor, std: torch.Tensor,
             run_id: int | None = None, test_acc: float | None = None) -> dict[str, str]:
    summary = summarize(config.architecture)
    return {
        "cnnlab.run_id": "" if run_id is None else str(run_id),
        "cnnlab.architecture": config.architecture.name,
        "cnnlab.params": str(summary.total_params),
        "cnnlab.macs": str(summary.total_macs),
        "cnnlab.test_acc": "" if test_acc is None else f"{test_acc:.6f}",
        "cnnlab.class_names": json.dumps(list(data.classes)),
        "cnnlab.input": f"{INPUT_FORMAT} {config.architecture.input_size}x{config.architecture.input_size}",
        "cnnlab.mean": json.dumps([round(float(v), 6) for v in mean]),
        "cnnlab.std": json.dumps([round(float(v), 6) for v in std]),
    }


def export(model: nn.Module, data: ImageDataset, meta: dict[str, str]) -> tuple[bytes, dict[str, Any]]:
    """The ONNX bytes of ``model`` (float32, eval mode) and what the check measured; ExportFailed
    when onnxruntime's logits differ from torch's by more than PARITY_ATOL on the test images."""
    mean, std = (torch.tensor(json.loads(meta[k])) for k in ("cnnlab.mean", "cnnlab.std"))
    wrapped = Classifier(model.float().eval(), mean, std).eval()
    images = data.test_x[:PARITY_IMAGES] if len(data.test_x) else data.train_x[:PARITY_IMAGES]
    sample = torch.from_numpy(np.ascontiguousarray(images))
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(wrapped, (sample,), path, input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
            graph = onnx.load(path)
        onnx.helper.set_model_props(graph, meta)
        onnx.checker.check_model(graph)
        blob = graph.SerializeToString()
        session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"images": sample.numpy()})[0]
    except ExportFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any exporter or runtime failure is the export's reason
        raise ExportFailed(f"export failed: {type(exc).__name__}: {exc}"[:500]) from exc
    with torch.no_grad():
        want = wrapped(sample).numpy()
    diff = float(np.abs(got - want).max()) if len(want) else 0.0
    if not diff <= PARITY_ATOL:
        raise ExportFailed(f"onnxruntime's logits differ from torch's by {diff:.2e} on {len(want)} test images "
                           f"(limit {PARITY_ATOL:g})")
    info = {"opset": OPSET, "input": meta["cnnlab.input"], "max_abs_diff": diff, "images_checked": len(want),
            "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    return blob, info


def export_state(config: TrainConfig, state: dict[str, Any], data: ImageDataset, run_id: int | None = None,
                 test_acc: float | None = None) -> tuple[bytes, dict[str, Any]]:
    """A checkpoint's reported weights (``state["model"]``) as a checked ONNX model, normalised on
    ``data``'s training images as the trainer did: what the runner, an export on request and the
    CLI all do."""
    model = build_model(config.architecture)
    model.load_state_dict(state["model"])
    mean, std = normalisation(data)
    return export(model, data, metadata(config, data, mean, std, run_id, test_acc))


def export_checkpoint(path: Path, out: Path) -> dict[str, Any]:
    """``python -m worker.export``: a checkpoint (its config, its weights) → out.onnx, checked."""
    state = checkpoint.load(path)
    if state is None:
        raise ExportFailed(f"{path}: no such checkpoint")
    config = TrainConfig.model_validate(state["config"])
    source, may_download = resolve_source(config.data.source)
    data = run_split(load_dataset(source, download=may_download, cache_dir=settings.CACHE_DIR,
                                  size=config.architecture.input_size), config)  # the run's normalisation
    blob, info = export_state(config, state, data, test_acc=checkpoint.headline_test_acc(state))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return info


def fetch_best(run_id: int, dest: Path) -> Path:
    """Run ``run_id``'s best checkpoint from the lab (CNNLAB_URL, default http://127.0.0.1:8000;
    CNNLAB_TOKEN, an API token, not needed on a laptop's local mode)."""
    url = os.environ.get("CNNLAB_URL", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("CNNLAB_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/api/runs/{run_id}/checkpoints/best", headers=headers, timeout=120)
    if response.status_code != 200:
        raise ExportFailed(f"run {run_id}: {url} answered {response.status_code}: {response.text[:300]}")
    dest.write_bytes(response.content)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m worker.export", description=__doc__.split("\n")[0])
    p.add_argument("source", help="a run's id (its best weights, fetched from CNNLAB_URL with CNNLAB_TOKEN), "
                                  "or a checkpoint file (best.pt / last.pt)")
    p.add_argument("--onnx", type=Path, required=True, help="where to write the model")
    args = p.parse_args(argv)
    try:
        if args.source.isdigit():
            with tempfile.TemporaryDirectory() as tmp:
                info = export_checkpoint(fetch_best(int(args.source), Path(tmp) / "best.pt"), args.onnx)
        else:
            info = export_checkpoint(Path(args.source), args.onnx)
    except (ExportFailed, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.onnx}: {info['bytes']:,} bytes, opset {info['opset']}, input {info['input']}; onnxruntime within "
          f"{info['max_abs_diff']:.1e} of torch on {info['images_checked']} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
