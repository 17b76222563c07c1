"""The computed conclusions on hand-made series where the answer is known."""

from __future__ import annotations

from backend.runs.analysis import best_epoch, overfit_epoch


def test_overfitting_starts_where_test_stalls_and_train_keeps_rising() -> None:
    epochs = list(range(1, 41))
    train = [min(0.5 + 0.02 * e, 1.0) for e in epochs]  # rises until epoch 25, then flat at 1.0
    test = [0.4 + 0.015 * e if e <= 20 else 0.7 - 0.002 * (e - 20) for e in epochs]  # peaks at epoch 20
    assert overfit_epoch(epochs, train, test) == 20
    assert best_epoch(epochs, test) == 20


def test_no_overfitting_while_test_keeps_improving() -> None:
    epochs = list(range(1, 31))
    train = [0.5 + 0.01 * e for e in epochs]
    test = [0.45 + 0.01 * e for e in epochs]
    assert overfit_epoch(epochs, train, test) is None


def test_a_plateau_of_both_is_not_overfitting() -> None:
    epochs = list(range(1, 21))
    flat = [0.8] * 20
    assert overfit_epoch(epochs, flat, flat) is None


def test_noise_within_tolerance_does_not_postpone_the_onset() -> None:
    epochs = list(range(1, 16))
    train = [0.6 + 0.02 * e for e in epochs]
    test = [0.5, 0.6, 0.7, 0.75, 0.752, 0.749, 0.751, 0.748, 0.75, 0.747, 0.75, 0.749, 0.75, 0.75, 0.75]
    assert overfit_epoch(epochs, train, test) == 4


def test_best_epoch_takes_the_first_of_equal_bests_and_handles_empty() -> None:
    assert best_epoch([1, 2, 3], [0.5, 0.7, 0.7]) == 2
    assert best_epoch([], []) is None
