"""A search's space without the API: what each architecture knob builds, and the size check."""

from __future__ import annotations

import pytest

from backend.runs.admission import Refused
from backend.searches.space import build_config, check_some_point_fits, parse_space, size
from backend.training.config import TrainConfig
from tests.utils.factories import tiny_config


def space_of(raw: dict, base: dict | None = None):
    return parse_space(raw, TrainConfig.model_validate(base or tiny_config()))


def test_depth_past_the_base_doubles_the_last_width_and_convs_set_every_stage() -> None:
    space = space_of({"architecture.depth": {"int": [1, 4]}, "architecture.convs_per_stage": {"int": [1, 3]}})
    arch = build_config(space, {"architecture.depth": 4, "architecture.convs_per_stage": 2})["architecture"]
    assert arch["stages"] == [[8, 8], [16, 16], [32, 32], [64, 64]]  # the tiny base: [[8], [16]]
    arch = build_config(space, {"architecture.depth": 1, "architecture.convs_per_stage": 3})["architecture"]
    assert arch["stages"] == [[8, 8, 8]]


def test_widths_and_the_multiplier() -> None:
    space = space_of({"architecture.width_2": {"int": [8, 64]}, "architecture.width_mult": {"float": [0.5, 2.0]}})
    arch = build_config(space, {"architecture.width_2": 40, "architecture.width_mult": 1.5})["architecture"]
    assert arch["stages"] == [[12], [60]]


def test_another_family_starts_from_its_preset_and_takes_its_own_knobs() -> None:
    space = space_of({"architecture.family": {"choice": ["compact", "resnet"]},
                      "architecture.blocks_per_stage": {"int": [1, 3]}, "architecture.pool_at": {"choice": ["last"]},
                      "architecture.activation": {"choice": ["relu", "gelu"]}})
    raw = build_config(space, {"architecture.family": "resnet", "architecture.blocks_per_stage": 1,
                               "architecture.activation": "gelu"})
    arch = raw["architecture"]
    assert arch["family"] == "resnet" and arch["stem"] == 16 and arch["activation"] == "gelu"
    assert arch["stages"] == [[16, 16], [32, 32], [60, 60]]  # resnet20's widths, one block a stage
    sized = size(raw)
    assert sized.problem is None and sized.config is not None and sized.params is not None
    compact = build_config(space, {"architecture.family": "compact", "architecture.pool_at": "last"})["architecture"]
    assert compact["pool_at"] == "last" and compact["stages"] == [[8], [16]]  # the base's own network


def test_an_impossible_network_is_a_problem_not_an_error() -> None:
    space = space_of({"architecture.depth": {"int": [1, 5]}, "architecture.residual": {"choice": [True]},
                      "architecture.pool_at": {"choice": ["last"]}})
    sized = size(build_config(space, {"architecture.residual": True, "architecture.pool_at": "last"}))
    assert sized.config is None and "pool_at" in (sized.problem or "") and sized.violation == 1.0


def test_the_size_check_finds_the_smallest_network_of_each_combination() -> None:
    ok = space_of({"architecture.width_mult": {"float": [0.25, 8.0]}}, tiny_config(architecture="compact"))
    check_some_point_fits(ok)  # 0.25 x compact fits, 8 x compact does not: some point fits
    over = space_of({"architecture.width_mult": {"float": [1.5, 8.0]}}, tiny_config(architecture="compact"))
    with pytest.raises(Refused, match="smallest network it holds has") as err:
        check_some_point_fits(over)
    assert err.value.field == "space"
