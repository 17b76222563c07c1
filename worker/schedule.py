"""Learning rate as a function of the step — set on the optimizer before every step."""

from __future__ import annotations

import math

from backend.training.config import TrainConfig


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int, elapsed_s: float = 0.0) -> float:
    """``elapsed_s`` matters only with schedule_by="time_budget": the schedule then runs on
    whichever ends first, the epochs or the time budget, so a run cut by its budget has annealed."""
    total = max(1, config.epochs * steps_per_epoch)
    progress = min(step / total, 1.0)
    if config.schedule_by == "time_budget":
        progress = max(progress, min(elapsed_s / config.time_budget_s, 1.0))
    peak = config.lr
    if config.schedule == "constant":
        return peak
    if config.schedule == "step":
        return peak * config.step_gamma ** int(progress * config.epochs // config.step_epochs)
    if config.schedule == "cosine":
        return peak * 0.5 * (1 + math.cos(math.pi * progress))
    # onecycle: linear warm-up from peak/10 to peak, then linear decay to zero
    warm = config.warmup_fraction
    if progress < warm:
        return peak * (0.1 + 0.9 * progress / warm)
    return peak * (1 - progress) / (1 - warm)
