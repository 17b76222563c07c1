"""Recipe knobs applied to a fresh model before its optimizer is made: identity (dirac) starts of
the convs and frozen batch-norm weights, as airbench94 uses them. A resumed run loads its trained
weights over the dirac start; the frozen flag is set on every start, so it holds after a resume."""

from __future__ import annotations

import torch
from torch import nn

from backend.training.config import TrainConfig


def dirac_convs(model: nn.Module) -> int:
    """Each 2-D conv's first filters, as many as its input channels (at most all of its filters), become
    the identity: a conv with as many filters as inputs passes its input through, a wider one passes
    it through on its first channels and keeps PyTorch's start on the others. Grouped and even-sized
    convs keep theirs (no centre tap). Returns how many convs were set."""
    count = 0
    for m in model.modules():
        if not isinstance(m, nn.Conv2d) or m.groups != 1 or any(k % 2 == 0 for k in m.kernel_size):
            continue
        keep = min(m.out_channels, m.in_channels)
        with torch.no_grad():
            nn.init.dirac_(m.weight[:keep])
            if m.bias is not None:
                m.bias[:keep].zero_()
        count += 1
    return count


def freeze_bn_weights(model: nn.Module) -> int:
    """Every batch-norm weight stays at 1 (no gradient, so no optimizer moves it); biases still train.
    Returns how many were frozen."""
    count = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
            with torch.no_grad():
                m.weight.fill_(1.0)
            m.weight.requires_grad_(False)
            count += 1
    return count


def apply_knobs(config: TrainConfig, model: nn.Module) -> None:
    if config.conv_init == "dirac":
        dirac_convs(model)
    if config.bn_weights_frozen:
        freeze_bn_weights(model)
