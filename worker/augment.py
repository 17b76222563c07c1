"""Batched augmentation as tensor ops on the device — no per-image Python."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to size at a random offset per image (NCHW)."""
    if padding == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def flip_where(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images of ``x`` (NCHW) where the boolean ``mask`` (N) is true."""
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return flip_where(x, mask)


def alternating_flips(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Which of ``n`` training images are mirrored in ``epoch`` (1-based) under alternating flip:
    a random half, drawn from ``seed`` alone, in odd epochs and exactly the other half in even
    ones (Keller Jordan's airbench). Random flips show an image the same way in two epochs running
    half the time; this never does."""
    first = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5
    return first if epoch % 2 else ~first


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image, centred anywhere (it may overhang the edge)."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=gen, device=gen.device).to(x.device)
    cx = torch.randint(0, w, (n,), generator=gen, device=gen.device).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    inside_y = (ys >= (cy - size // 2)[:, None]) & (ys < (cy - size // 2 + size)[:, None])
    inside_x = (xs >= (cx - size // 2)[:, None]) & (xs < (cx - size // 2 + size)[:, None])
    mask = inside_y[:, :, None] & inside_x[:, None, :]  # (n, h, w)
    return x.masked_fill(mask[:, None], 0)
