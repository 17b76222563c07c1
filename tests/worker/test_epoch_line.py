"""The trainer's epoch line rounds as the dashboard does (backend.core.formats; the browser test
tests/browser/test_rounding.py holds it to common.js itself)."""

from __future__ import annotations

from worker.trainer import EpochMetrics


def test_the_epoch_line_rounds_halves_up() -> None:
    m = EpochMetrics(epoch=3, train_loss=0.0625, train_acc=0.125, test_loss=0.5, test_acc=0.135, lr=0.1,
                     seconds=0.125, val_loss=0.4, val_acc=0.985)
    assert m.seed_line() == ("[epoch 3] train accuracy: 13% test accuracy: 14% val accuracy: 99% loss: 0.063 "
                             "duration: 0.13")
    partial = EpochMetrics(epoch=4, train_loss=1.0, train_acc=0.5, test_loss=0.5, test_acc=0.5, lr=0.1, seconds=2.0,
                           fraction=0.125)
    assert partial.seed_line().endswith("duration: 2.00 (partial: 13% of the epoch)")
