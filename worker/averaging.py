"""An exponential moving average of a model's weights (Polyak averaging), kept beside training.

The average covers every floating-point tensor of the state dict — weights, biases and the
batch-norm running statistics — so the averaged model is evaluated as it is, with no extra pass
over the training data to re-estimate its batch-norm statistics (as timm's ModelEmaV2 does).
Integer buffers (batch-norm's step counters) are copied.

The decay of update ``u`` (0-based) is ``min(exp(-1 / time_constant), (1 + u) / (10 + u))``: the
second term keeps the first updates from holding on to the random initialisation. It depends on
the step alone, so a run resumed from its checkpoint continues the same average.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, time_constant_steps: float) -> None:
        if time_constant_steps <= 0:
            raise ValueError(f"time_constant_steps: must be positive, got {time_constant_steps}")
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = math.exp(-1.0 / time_constant_steps)

    def decay_at(self, update: int) -> float:
        return min(self.decay, (1 + update) / (10 + update))

    @torch.no_grad()
    def update(self, model: nn.Module, update: int) -> None:
        """Move the average towards ``model``'s current state, as the ``update``-th update (0-based)."""
        current = model.state_dict()
        averaged, latest = [], []
        for name, avg in self.model.state_dict().items():  # these tensors share the average's storage
            if avg.is_floating_point():
                averaged.append(avg)
                latest.append(current[name])
            else:
                avg.copy_(current[name])
        torch._foreach_lerp_(averaged, latest, 1.0 - self.decay_at(update))  # one fused kernel on CUDA
