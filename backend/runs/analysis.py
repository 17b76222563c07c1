"""Reading a metric series: the best epoch and the epoch where overfitting starts.

Both read a *held-out* accuracy: the validation split's when the run has one (``choice_series``),
the test set's only for runs without (whose choices are then labelled "chosen on test").

Overfitting starts at the first epoch after which held-out accuracy stops rising while train
accuracy keeps rising: over the next ``window`` epochs test accuracy never beats the best so far
by more than ``tolerance``, while train accuracy gains at least ``train_gain``. The seed report's
"all three overfit after about 20 epochs" is this epoch, computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def best_epoch(epochs: Sequence[int], scores: Sequence[float]) -> int | None:
    """The first epoch of the highest score (what the trainer keeps as its best checkpoint)."""
    if not epochs:
        return None
    best = max(range(len(epochs)), key=lambda i: (scores[i], -i))
    return epochs[best]


def choice_series(series: Mapping[str, Sequence[float | None]]) -> tuple[str, list[float]]:
    """("val", val_acc) when every epoch of a columnar series has a validation accuracy, else
    ("test", test_acc): the accuracy that chooses among its epochs."""
    val = series.get("val_acc") or []
    if val and all(v is not None for v in val):
        return "val", [float(v) for v in val if v is not None]
    return "test", [float(v) for v in series["test_acc"] if v is not None]


def overfit_epoch(
    epochs: Sequence[int],
    train_acc: Sequence[float],
    held_out_acc: Sequence[float],
    window: int = 5,
    tolerance: float = 0.005,
    train_gain: float = 0.01,
) -> int | None:
    n = len(epochs)
    best_so_far = float("-inf")
    for i in range(n - window):
        best_so_far = max(best_so_far, held_out_acc[i])
        ahead = range(i + 1, i + window + 1)
        test_stalls = max(held_out_acc[j] for j in ahead) <= best_so_far + tolerance
        train_rises = train_acc[i + window] - train_acc[i] >= train_gain
        if test_stalls and train_rises:
            return epochs[i]
    return None
