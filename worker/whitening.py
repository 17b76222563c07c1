"""Whitening initialisation of the first conv (Keller Jordan's airbench, adapted to 3x3 convs).

The first conv's filters become the top eigenvectors of the covariance of the training images'
k x k patches (after the run's normalisation), each scaled by 1/sqrt(eigenvalue + eps), in +/-
pairs: a filter and its negative. On the training patches the filters' responses are then
uncorrelated with unit variance, so the first layer starts from the data's own decorrelated
directions instead of random ones. Filters beyond 2 x min(out_channels // 2, patch size) keep
their random init. The weights stay trainable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 5e-4  # airbench's: keeps the nearly empty directions from blowing up


@torch.no_grad()
def patch_covariance(images: torch.Tensor, kernel: int, chunk: int = 512) -> torch.Tensor:
    """Covariance (float64) of every valid ``kernel`` x ``kernel`` patch of the float NCHW ``images``,
    flattened in the conv weight's (channel, row, column) order."""
    dims = images.shape[1] * kernel * kernel
    total = torch.zeros(dims, dims, dtype=torch.float64)
    mean = torch.zeros(dims, dtype=torch.float64)
    count = 0
    for i in range(0, len(images), chunk):
        patches = F.unfold(images[i : i + chunk].float().cpu(), kernel).transpose(1, 2).reshape(-1, dims).double()
        total += patches.T @ patches
        mean += patches.sum(0)
        count += len(patches)
    mean /= max(count, 1)
    return total / max(count, 1) - torch.outer(mean, mean)


@torch.no_grad()
def whitening_filters(images: torch.Tensor, kernel: int, out_channels: int) -> torch.Tensor:
    """(2 x min(out_channels // 2, dims), C, k, k) filters: eigenvectors by falling eigenvalue, +/- pairs."""
    channels = images.shape[1]
    eigenvalues, eigenvectors = torch.linalg.eigh(patch_covariance(images, kernel))  # ascending
    falling = eigenvalues.flip(0)
    vectors = eigenvectors.flip(1).T  # rows, by falling eigenvalue
    pairs = min(out_channels // 2, len(falling))
    scaled = vectors[:pairs] / (falling[:pairs].clamp(min=0) + EPS).sqrt()[:, None]
    filters = torch.stack([scaled, -scaled], dim=1).reshape(2 * pairs, channels, kernel, kernel)
    return filters.float()


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first conv in application order (both families register it first)."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


@torch.no_grad()
def whiten_first_conv(model: nn.Module, images: torch.Tensor) -> int:
    """Initialise the first conv from ``images`` (normalised float NCHW); returns how many filters were set."""
    conv = first_conv(model)
    kernel = conv.kernel_size[0]
    filters = whitening_filters(images, kernel, conv.out_channels)
    conv.weight[: len(filters)] = filters.to(conv.weight.device, conv.weight.dtype)
    if conv.bias is not None:
        conv.bias[: len(filters)] = 0.0
    return len(filters)
