"""Whitening initialisation of the first conv: decorrelated unit-variance responses, +/- pairs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from backend.architecture import CompactArchitecture, PlainArchitecture, ResNetArchitecture
from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from worker import checkpoint
from worker.model import build_model
from worker.trainer import DeviceData, train, whitening_sample
from worker.whitening import EPS, patch_covariance, whiten_first_conv, whitening_filters


def correlated_images(n: int = 64, channels: int = 3, size: int = 12) -> torch.Tensor:
    """Smooth images with correlated channels: far from white, so whitening has work to do."""
    gen = torch.Generator().manual_seed(0)
    base = F.avg_pool2d(torch.randn(n, 1, size + 2, size + 2, generator=gen), 3, stride=1)
    noise = 0.3 * torch.randn(n, channels, size, size, generator=gen)
    return 2.0 * base.expand(-1, channels, -1, -1) + noise + 0.5


def responses(images: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    out = F.conv2d(images.double(), filters.double())  # valid patches only, as the covariance saw them
    return out.transpose(0, 1).reshape(len(filters), -1)


def test_the_filters_answer_the_patches_uncorrelated_with_unit_variance() -> None:
    images = correlated_images()
    filters = whitening_filters(images, 3, 32)
    assert filters.shape == (32, 3, 3, 3)
    assert torch.equal(filters[1::2], -filters[0::2])
    eigenvalues = torch.linalg.eigvalsh(patch_covariance(images, 3)).flip(0)[:16]
    expected = torch.diag(eigenvalues / (eigenvalues + EPS))  # 1 up to the eps
    covariance = torch.cov(responses(images, filters[0::2]), correction=0)
    assert torch.allclose(covariance, expected, atol=1e-4)
    raw = torch.cov(responses(images, torch.randn(16, 3, 3, 3, generator=torch.Generator().manual_seed(1))))
    assert not torch.allclose(raw, expected, atol=1e-1)  # random filters are not white


def test_the_covariance_equals_torch_cov_of_the_unfolded_patches() -> None:
    images = correlated_images(n=10, channels=2, size=6)
    patches = F.unfold(images, 3).transpose(1, 2).reshape(-1, 18).double()
    assert torch.allclose(patch_covariance(images, 3, chunk=3), torch.cov(patches.T, correction=0), atol=1e-10)


def test_only_twice_the_patch_size_filters_are_set_and_a_plain_bias_is_zeroed() -> None:
    torch.manual_seed(0)
    arch = PlainArchitecture(stages=[[24]], in_channels=1, input_size=12, num_classes=3)
    model = build_model(arch)
    before = model.features.conv1.weight.detach().clone()
    assert whiten_first_conv(model, correlated_images(channels=1)) == 18  # 9 patch dims, +/- each
    after = model.features.conv1.weight.detach()
    assert torch.equal(after[18:], before[18:]) and not torch.equal(after[:18], before[:18])
    assert torch.equal(model.features.conv1.bias[:18], torch.zeros(18))


@pytest.mark.parametrize("family", [CompactArchitecture, ResNetArchitecture])
def test_the_stem_is_the_first_conv_when_there_is_one(family) -> None:
    model = build_model(family(stages=[[8, 8]], stem=6, input_size=12, num_classes=3))
    images = correlated_images()
    whiten_first_conv(model, images)
    assert torch.equal(model.stem.conv0.weight.detach(), whitening_filters(images, 3, 6))


@pytest.mark.parametrize(("architecture", "first"), [
    ({"family": "compact", "stages": [[8], [16]], "num_classes": 3}, "stages.0.down.conv1.weight"),
    ({"family": "resnet", "stem": 8, "stages": [[8, 8], [16, 16]], "num_classes": 3}, "stem.conv0.weight"),
])
def test_training_starts_from_the_whitened_conv(tmp_path, architecture, first) -> None:
    data = make_arrays(classes=3, train_per_class=40, test_per_class=10)
    config = TrainConfig.model_validate({
        "architecture": architecture, "epochs": 1, "batch_size": 16,
        "lr": 1e-9, "momentum": 0.0, "weight_decay": 0.0, "device": "cpu", "whiten_init": True, "data": {"holdout": 0}})
    train(config, data, checkpoint_dir=tmp_path, log=None)
    trained = checkpoint.load(tmp_path / checkpoint.LAST, torch.device("cpu"))["model"][first]
    sample = whitening_sample(DeviceData(data, torch.device("cpu"), channels_last=True))
    assert len(sample) == len(data.train_y)  # fewer than WHITEN_IMAGES: all of them
    assert torch.allclose(trained, whitening_filters(sample, 3, 8), atol=1e-6)
