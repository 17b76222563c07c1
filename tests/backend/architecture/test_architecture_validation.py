"""Descriptions that cannot be built are refused with a message naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.architecture import ArchitectureError, parse_architecture, preset
from backend.core.validation import describe_errors
from backend.training.config import TrainConfig


@pytest.mark.parametrize(
    ("description", "field", "needle"),
    [
        ({"stages": [[8, 0]]}, "stages[0][1]", "at least 1, got 0"),
        ({"stages": [[8], [-4]]}, "stages[1][0]", "at least 1, got -4"),
        ({"stages": [[8]] * 6}, "stages", "allows at most 5"),
        ({"stages": [[8]] * 4, "input_size": 8}, "stages", "8x8 input allows at most 3"),
        ({"stages": []}, "stages", "at least 1 item"),
        ({"stages": [[]]}, "stages[0]", "at least one conv width"),
        ({"stages": [[8]], "dropout_input": 1.0}, "dropout_input", "[0, 1), got 1.0"),
        ({"stages": [[8]], "dropout_hidden": -0.1}, "dropout_hidden", "[0, 1), got -0.1"),
        ({"stages": [[8]], "hidden": [16, 0]}, "hidden[1]", "got 0"),
        ({"stages": [[8]], "batch_norm": "sometimes"}, "batch_norm", "'none', 'first' or 'every'"),
        ({"family": "compact", "stages": [[8]], "dropout": 1.2}, "dropout", "[0, 1)"),
        ({"family": "compact", "stages": [[8, 16]], "residual": True}, "stages[0]", "as wide as its first"),
        ({"family": "compact", "stages": [[8]], "stem": -1}, "stem", "greater than or equal to 0"),
        ({"family": "compact", "stages": [[8]], "stem": 5000}, "stem", "less than or equal to 4096"),
        ({"family": "compact", "stages": [[8, 8]], "residual": True, "pool_at": "last"}, "pool_at", "residual"),
        ({"family": "compact", "stages": [[8]], "pool_at": "middle"}, "pool_at", "'first' or 'last'"),
        ({"family": "resnet", "stages": [[8, 8], [16, 16, 16]]}, "stages[1]", "even number of widths, got 3"),
        ({"family": "resnet", "stages": [[8, 8]], "stem": 0}, "stem", "greater than or equal to 1"),
        ({"family": "resnet", "stages": [[8, 8]], "dropout": 1.0}, "dropout", "[0, 1), got 1.0"),
        ({"family": "resnet", "stages": [[8, 8]], "pool_at": "last"}, "pool_at", "Extra inputs"),
        ({"family": "resnet", "stages": [[8, 8]] * 7}, "stages",
         "7 stages means 6 stride-2 downsamplings, but a 32x32 input allows at most 5"),
        ({"family": "mystery", "stages": [[8]]}, "family", "plain"),
        ({"stages": [[8]], "colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_invalid_description_names_the_field(description, field, needle) -> None:
    with pytest.raises(ArchitectureError) as info:
        parse_architecture(description)
    assert info.value.field == field
    assert needle in info.value.message


def test_unknown_preset_is_refused_with_the_known_names() -> None:
    with pytest.raises(ArchitectureError) as info:
        preset("resnet1000")
    assert info.value.field == "preset"
    assert "'resnet1000'" in info.value.message and "wide_deep" in info.value.message


@pytest.mark.parametrize(
    ("config", "field", "needle"),
    [
        ({"architecture": {"stages": [[0]]}}, "architecture.stages[0][0]", "at least 1"),
        ({"architecture": "nope"}, "architecture.preset", "unknown preset"),
        ({"architecture": {"family": "resnet", "stages": [[16]]}}, "architecture.stages[0]", "even number"),
        ({"architecture": "wide", "lr": 0}, "lr", "greater than 0, got 0"),
        ({"architecture": "wide", "epochs": 0}, "epochs", "greater than or equal to 1"),
        ({"architecture": "wide", "batch_size": 100000}, "batch_size", "less than or equal to 8192"),
        ({"architecture": "wide", "label_smoothing": 1.0}, "label_smoothing", "less than 1"),
        ({"architecture": "wide", "optimizer": "lbfgs"}, "optimizer", "'sgd', 'adam', 'adamw' or 'muon'"),
        ({"architecture": "wide", "augment": {"padding": -1}}, "augment.padding", "greater than or equal to 0"),
        ({"architecture": "wide", "augment": {"cutout": 32}}, "augment.cutout", "smaller than the input size"),
        ({"architecture": {"family": "compact", "stages": [[8]], "input_size": 4}, "tta_shift": 4}, "tta_shift",
         "smaller than the input size 4"),
        ({"architecture": "wide", "data": {"train_limit": 0}}, "data.train_limit", "greater than or equal to 1"),
        ({"architecture": "wide", "augment": {"alternate_flip": True}}, "augment.alternate_flip",
         "needs augment.flip on"),
        ({"architecture": "wide", "ema_epochs": 0}, "ema_epochs", "greater than 0, got 0"),
        ({"architecture": "wide", "ema_epochs": 500}, "ema_epochs", "less than or equal to 100, got 500"),
        ({"architecture": "wide", "time_budget_s": -5}, "time_budget_s", "greater than 0"),
        ({"architecture": "wide", "device": "tpu"}, "device", "'auto', 'cpu' or 'cuda'"),
        ({}, "architecture", "Field required"),
    ],
)
def test_invalid_train_config_names_the_field(config, field, needle) -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate(config)
    errors = describe_errors(info.value)
    assert errors[0]["field"] == field, errors
    assert needle in errors[0]["message"], errors


def test_preset_name_expands_to_the_full_description() -> None:
    config = TrainConfig.model_validate({"architecture": "wide_deep_bn"})
    dumped = config.model_dump(mode="json")["architecture"]
    assert dumped["batch_norm"] == "first" and dumped["stages"] == [[24, 24], [32, 32], [48, 48]]
    assert TrainConfig.model_validate(config.model_dump(mode="json")) == config
