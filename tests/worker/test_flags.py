"""The training CLI's generated flags: dotted names, --no- forms, 'none', the kept short forms."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from backend.architecture import ArchitectureError
from backend.training.config import TrainConfig
from worker import flags
from worker.train import _parser, config_from_args


def config(*argv: str) -> TrainConfig:
    return TrainConfig.model_validate(config_from_args(_parser().parse_args(list(argv))))


def test_dotted_flags_set_nested_options() -> None:
    c = config("--preset", "compact", "--augment.cutout", "8", "--architecture.stem", "24",
               "--architecture.stages", "16,16/32", "--bn-bias-lr-scale", "4", "--no-tta-each-epoch",
               "--ema-epochs", "none", "--data.train-limit", "100")
    assert c.augment.cutout == 8 and c.bn_bias_lr_scale == 4.0 and not c.tta_each_epoch and c.ema_epochs is None
    assert c.architecture.family == "compact" and c.architecture.stem == 24
    assert c.architecture.stages == [[16, 16], [32]] and c.data.train_limit == 100
    assert c.architecture.pool_at == "first" and c.architecture.name == "custom"  # the preset's other fields kept


def test_the_short_forms_people_used_keep_working() -> None:
    c = config("--preset", "wide_deep", "--augment", "--cutout", "4", "--patience", "3", "--time-budget", "60",
               "--data", "cifar10", "--final-views-only", "--alternate-flip", "--whiten-init", "--tta")
    assert (c.augment.crop, c.augment.flip, c.augment.cutout, c.augment.alternate_flip) == (True, True, 4, True)
    assert (c.early_stopping_patience, c.time_budget_s, c.tta_each_epoch, c.whiten_init, c.tta) == (3, 60.0, False,
                                                                                                    True, True)


def test_a_new_family_keeps_only_what_it_has() -> None:
    c = config("--preset", "compact", "--architecture.family", "resnet", "--architecture.stages", "16,16/32,32",
               "--architecture.stem", "16")
    assert c.architecture.family == "resnet" and not hasattr(c.architecture, "pool_at")


def test_bad_values_are_refused_naming_the_option(capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--optimizer", "rmsprop"])
    assert "optimizer" in capsys.readouterr().err
    with pytest.raises(ArchitectureError):
        flags.apply({"architecture": "no_such_preset"}, {"architecture.stem": 3})


def test_the_cli_refuses_an_out_of_bounds_option_before_training() -> None:
    proc = subprocess.run([sys.executable, "-m", "worker.train", "--bn-bias-lr-scale", "0"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "error: bn_bias_lr_scale:" in proc.stderr and "greater than 0" in proc.stderr


def test_every_option_has_help_with_its_limits_and_default() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False)
    flags.add_option_flags(p)
    text = " ".join(p.format_help().split())
    assert "--bn-bias-lr-scale X multiplies the learning rate of the batch-norm weights" in text
    assert "(> 0 and <= 64; default 1.0)" in text
    assert "--architecture.stem N" in text and "default {'compact': 0, 'resnet': 16}" in text
