"""The moving average of the weights: the update rule, its warm-up and what it averages."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from worker.averaging import WeightAverage


def test_each_update_moves_the_average_by_the_documented_decay() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    average = WeightAverage(model, time_constant_steps=4.0)
    expected = model[0].weight.detach().clone()
    for update in range(30):
        with torch.no_grad():
            model[0].weight.add_(1.0)  # the trained weights walk away
        decay = min(math.exp(-1 / 4), (1 + update) / (10 + update))
        expected = decay * expected + (1 - decay) * model[0].weight.detach()
        average.update(model, update)
        torch.testing.assert_close(average.model[0].weight, expected)
    assert average.decay_at(0) == pytest.approx(0.1) and average.decay_at(10_000) == pytest.approx(math.exp(-1 / 4))
    assert not torch.equal(average.model[0].weight, model[0].weight)  # it lags behind


def test_batch_norm_statistics_are_averaged_and_its_counter_copied() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, time_constant_steps=1e9)  # decay ~1 once warmed up: barely moves
    model.train()
    model(torch.randn(8, 3) + 5.0)  # moves the running mean and counts one batch
    average.update(model, 0)  # decay 0.1: 90% of the way
    running = model[1].running_mean
    torch.testing.assert_close(average.model[1].running_mean, 0.9 * running)
    assert int(average.model[1].num_batches_tracked) == 1
    assert not average.model.training and not any(p.requires_grad for p in average.model.parameters())


def test_a_time_constant_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time_constant_steps"):
        WeightAverage(nn.Linear(1, 1), 0)
