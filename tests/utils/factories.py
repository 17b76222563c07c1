"""Small builders for API tests."""

from __future__ import annotations

from typing import Any

TINY_ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 10, "name": "tiny"}


def tiny_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"architecture": TINY_ARCH, "epochs": 3, "batch_size": 16, "lr": 0.05, "device": "cpu"}
    config.update(overrides)
    return config


def metric(epoch: int, test_acc: float = 0.5, train_acc: float = 0.6) -> dict[str, Any]:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": train_acc, "test_loss": 1.2 / epoch,
            "test_acc": test_acc, "lr": 0.1, "seconds": 1.5}
