"""Small builders for API tests."""

from __future__ import annotations

from typing import Any

TINY_ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 10, "name": "tiny"}


TINY_HOLDOUT = 50  # of the tests' 400-image dataset (tests/conftest.py): 5 validation images per class


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A config that trains in a second on the tests' tiny dataset, holding out TINY_HOLDOUT
    images for validation (``data`` given: merged over that)."""
    config: dict[str, Any] = {"architecture": TINY_ARCH, "epochs": 3, "batch_size": 16, "lr": 0.05, "device": "cpu",
                              "data": {"holdout": TINY_HOLDOUT}}
    data = overrides.pop("data", None)
    config.update(overrides)
    if data is not None:
        config["data"] = {**config["data"], **data} if isinstance(data, dict) else data
    return config


SAME = object()


def metric(epoch: int, test_acc: float = 0.5, train_acc: float = 0.6, val_acc: Any = SAME) -> dict[str, Any]:
    """An epoch as a worker of a tiny_config run reports it: val_acc (with its val_loss) equal to
    test_acc unless given; None for a run without a holdout."""
    out = {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": train_acc, "test_loss": 1.2 / epoch,
           "test_acc": test_acc, "lr": 0.1, "seconds": 1.5}
    val_acc = test_acc if val_acc is SAME else val_acc
    if val_acc is not None:
        out.update(val_acc=val_acc, val_loss=1.1 / epoch)
    return out


def trial_metric(epoch: int, val_acc: float, train_acc: float = 0.6) -> dict[str, Any]:
    """An epoch as a worker of a search's trial reports it: validation figures, no test figure (a trial
    reads the test set once, at its end: config ``test_each_epoch`` off)."""
    return {**metric(epoch, val_acc, train_acc, val_acc=val_acc), "test_acc": None, "test_loss": None}


def class_report(epoch: int, accuracy: float, k: int = 2) -> dict[str, Any]:
    """The smallest class report a worker sends when a run ends: ``accuracy`` on the test set of the
    weights of ``epoch``."""
    return {"epoch": epoch, "classes": [f"c{i}" for i in range(k)], "accuracy": accuracy,
            "per_class_acc": [accuracy] * k, "confusion": [[1] * k for _ in range(k)], "misclassified": []}
