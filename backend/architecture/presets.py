"""Named architectures: the seed study's five, exactly, and our compact ones."""

from __future__ import annotations

from typing import TypedDict

from backend.architecture.description import (
    AnyArchitecture,
    CompactArchitecture,
    PlainArchitecture,
    ResNetArchitecture,
)
from backend.core.errors import ArchitectureError


class _WideDeep(TypedDict):
    stages: list[list[int]]
    hidden: list[int]


_WIDE_DEEP: _WideDeep = {"stages": [[24, 24], [32, 32], [48, 48]], "hidden": [220, 120]}

PRESETS: dict[str, AnyArchitecture] = {
    # SEED_STUDY.md model 1: 222,226 params, 13,131,728 MACs.
    "wide": PlainArchitecture(name="wide", stages=[[64], [64], [48]], hidden=[200]),
    # model 2: 127,724 params, 2,689,740 MACs.
    "deep": PlainArchitecture(name="deep", stages=[[8, 8], [16, 16], [32, 32]], hidden=[180, 90]),
    # model 3: 253,638 params, 12,509,136 MACs.
    "wide_deep": PlainArchitecture(name="wide_deep", **_WIDE_DEEP),
    # section 4.2: BN after conv1, conv3, conv5 → 253,846 params.
    "wide_deep_bn": PlainArchitecture(name="wide_deep_bn", batch_norm="first", **_WIDE_DEEP),
    # section 4.3: dropout 0.10 before fc1 (the report's table), 0.25 after fc1 and fc2.
    "wide_deep_dropout": PlainArchitecture(
        name="wide_deep_dropout", dropout_input=0.10, dropout_hidden=0.25, **_WIDE_DEEP
    ),
    # Conv-BN-GELU, 32/64/112, global max-pool: 244,736 params (TRAINING_NOTES.md's starting point).
    "compact": CompactArchitecture(name="compact", stages=[[32, 32], [64, 64], [112, 112]]),
    # The same convs with each stage's max-pool after its last conv: every conv at the stage's input
    # resolution, 35,832,928 MACs for the same 244,746 params (benchmarks/RESULTS.md, 1-hour runs).
    "compact_pool_last": CompactArchitecture(
        name="compact_pool_last", pool_at="last", stages=[[32, 32], [64, 64], [112, 112]]
    ),
    # Residual variant: each stage's later convs form one residual branch around the first.
    "compact_res": CompactArchitecture(
        name="compact_res", residual=True, stages=[[32, 32], [64, 64, 64], [96, 96]]
    ),
    # He et al.'s ResNet-20 (stem 16, three stages of three blocks, 16/32/64) with the last stage
    # narrowed to 60 so that it fits the budget: 248,778 params (option-B shortcuts), 39.3M MACs.
    "resnet20": ResNetArchitecture(
        name="resnet20", stem=16, stages=[[16] * 6, [32] * 6, [60] * 6]
    ),
}


def preset(name: str) -> AnyArchitecture:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ArchitectureError("preset", f"unknown preset {name!r}; known: {known}") from None
