"""Reading a metric series: the best epoch and the epoch where overfitting starts.

Overfitting starts at the first epoch after which test accuracy stops rising while train
accuracy keeps rising: over the next ``window`` epochs test accuracy never beats the best so far
by more than ``tolerance``, while train accuracy gains at least ``train_gain``. The seed report's
"all three overfit after about 20 epochs" is this epoch, computed.
"""

from __future__ import annotations

from collections.abc import Sequence


def best_epoch(epochs: Sequence[int], test_acc: Sequence[float]) -> int | None:
    if not epochs:
        return None
    best = max(range(len(epochs)), key=lambda i: (test_acc[i], -i))
    return epochs[best]


def overfit_epoch(
    epochs: Sequence[int],
    train_acc: Sequence[float],
    test_acc: Sequence[float],
    window: int = 5,
    tolerance: float = 0.005,
    train_gain: float = 0.01,
) -> int | None:
    n = len(epochs)
    best_so_far = float("-inf")
    for i in range(n - window):
        best_so_far = max(best_so_far, test_acc[i])
        ahead = range(i + 1, i + window + 1)
        test_stalls = max(test_acc[j] for j in ahead) <= best_so_far + tolerance
        train_rises = train_acc[i + window] - train_acc[i] >= train_gain
        if test_stalls and train_rises:
            return epochs[i]
    return None
