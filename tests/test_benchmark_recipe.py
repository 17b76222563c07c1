"""The time-to-accuracy benchmark's recipe: what its flags put into the run's config."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.time_to_accuracy import parse_stages, recipe


def test_recipe_carries_the_seed_and_the_overrides() -> None:
    config = recipe("resnet20", epochs=200, budget=3550, batch_size=256, lr=0.2, cutout=8, tta_shift=1,
                    whiten_init=True, tta_each_epoch=False, stages=[[8, 8], [16, 16]], seed=3,
                    ema_epochs=2.0, alternate_flip=True)
    assert config.seed == 3
    assert (config.ema_epochs, config.augment.alternate_flip, config.augment.flip) == (2.0, True, True)
    assert config.architecture.family == "resnet" and config.architecture.stem == 16  # the preset's, kept
    assert config.architecture.stages == [[8, 8], [16, 16]]
    assert (config.augment.cutout, config.tta_shift, config.whiten_init, config.tta_each_epoch) == (8, 1, True, False)
    assert (config.time_budget_s, config.schedule_by, config.label_smoothing) == (3550, "time_budget", 0.2)
    plain = recipe("compact", 1, 10, 256, 0.2)
    assert (plain.seed, plain.ema_epochs, plain.augment.alternate_flip) == (0, None, False)


def test_stages_parse_and_refuse_what_is_not_widths() -> None:
    assert parse_stages("32,32/64,64/112") == [[32, 32], [64, 64], [112]]
    with pytest.raises(argparse.ArgumentTypeError, match="stages"):
        parse_stages("32,x/64")
