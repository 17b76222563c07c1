"""ONNX export: every preset family's graph equals torch's within 1e-4 (normalisation inside), its
metadata says what the model is, a mismatch is refused with the reason, and the CLI writes a file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays, write_image_folder
from tests.utils.services import ROOT
from worker import export as onnx_export
from worker.data import load_dataset, run_split
from worker.model import build_model
from worker.trainer import train

FAMILY_PRESETS = ["wide_deep_bn", "compact", "compact_pool_last", "compact_res", "resnet20"]


@pytest.fixture(scope="module")
def data():
    return make_arrays(classes=10, train_per_class=8, test_per_class=7)


@pytest.mark.parametrize("preset", FAMILY_PRESETS)
def test_export_matches_torch_for_every_family(preset: str, data) -> None:
    config = TrainConfig.model_validate({"architecture": preset})
    model = build_model(config.architecture)
    for module in model.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    mean, std = onnx_export.normalisation(data)
    meta = onnx_export.metadata(config, data, mean, std, run_id=7, test_acc=0.5)
    blob, info = onnx_export.export(model, data, meta)
    assert info["max_abs_diff"] <= 1e-4 and info["images_checked"] == 64 and info["opset"] == onnx_export.OPSET
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    batch = data.test_x[:5]  # another batch size than the export's: the batch is dynamic
    got = session.run(["logits"], {"images": batch})[0]
    with torch.no_grad():
        x = (torch.from_numpy(batch).permute(0, 3, 1, 2).float() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
        want = model.eval()(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    props = {p.key: p.value for p in onnx.load_from_string(blob).metadata_props}
    assert json.loads(props["cnnlab.class_names"]) == data.classes and props["cnnlab.run_id"] == "7"
    assert props["cnnlab.architecture"] == preset and int(props["cnnlab.params"]) > 0
    assert props["cnnlab.input"] == "uint8 NHWC RGB 32x32"


def test_a_mismatch_is_refused_with_the_reason(data, monkeypatch) -> None:
    monkeypatch.setattr(onnx_export, "PARITY_ATOL", -1.0)  # nothing can be that close
    config = TrainConfig.model_validate({"architecture": "compact"})
    mean, std = onnx_export.normalisation(data)
    with pytest.raises(onnx_export.ExportFailed, match=r"differ from torch's by .* on 64 test images"):
        onnx_export.export(build_model(config.architecture), data, onnx_export.metadata(config, data, mean, std))


def test_the_cli_exports_a_checkpoint(tmp_path) -> None:
    arrays = make_arrays(classes=3, train_per_class=6, test_per_class=3)
    folder = write_image_folder(tmp_path / "ds", arrays)
    arch = {"family": "compact", "stages": [[8], [16]], "num_classes": 3}
    config = TrainConfig.model_validate({"architecture": arch, "epochs": 1, "batch_size": 8, "device": "cpu",
                                         "data": {"source": str(folder), "holdout": 3}})
    # the export normalises like the run: its training images less the validation split
    train(config, run_split(load_dataset(str(folder)), config), checkpoint_dir=tmp_path / "ckpt", log=None)
    out = tmp_path / "model.onnx"
    done = subprocess.run([sys.executable, "-m", "worker.export", str(tmp_path / "ckpt" / "best.pt"),
                           "--onnx", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0 and "within" in done.stdout and "of torch on 9 test images" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "worker.export", str(tmp_path / "nope.pt"), "--onnx",
                              str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "no such checkpoint" in missing.stderr
