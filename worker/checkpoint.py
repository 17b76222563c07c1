"""Best and last checkpoints: weights, optimizer, epoch, metric history and the full config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def save(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write never leaves a truncated checkpoint behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any] | None:
    if not path.is_file():
        return None
    # weights_only: a checkpoint holds tensors, numbers, strings, lists and dicts, never code to run
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    return state


def headline_test_acc(state: dict[str, Any]) -> float | None:
    """The test accuracy of a checkpoint's chosen epoch (checkpoints written before the validation
    split kept the best test accuracy as "best_acc", which was the same epoch's)."""
    value = state.get("test_acc_at_best", state.get("best_acc"))
    return float(value) if value is not None else None
