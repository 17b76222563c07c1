"""Learning rate as a function of the step — set on the optimizer before every step."""

from __future__ import annotations

import math

from backend.training_config import TrainConfig


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    total = max(1, config.epochs * steps_per_epoch)
    progress = min(step / total, 1.0)
    peak = config.lr
    if config.schedule == "constant":
        return peak
    if config.schedule == "step":
        return peak * config.step_gamma ** ((step // steps_per_epoch) // config.step_epochs)
    if config.schedule == "cosine":
        return peak * 0.5 * (1 + math.cos(math.pi * progress))
    # onecycle: linear warm-up from peak/10 to peak, then linear decay to zero
    warm = config.warmup_fraction
    if progress < warm:
        return peak * (0.1 + 0.9 * progress / warm)
    return peak * (1 - progress) / (1 - warm)
