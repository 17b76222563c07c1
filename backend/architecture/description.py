"""The serialisable (JSON) description of a network.

Three families:

* ``plain`` — the seed study's family: stages of 3x3 convs (bias, ReLU), a 2x2 max-pool after
  every stage, optional batch norm (none / first conv of each stage / every conv), then
  flatten → hidden linear layers (ReLU) → linear to the classes, with dropout before the first
  linear layer and after each hidden one.
* ``compact`` — a modern conv-BN family meant to beat the seed under 256k parameters: an
  optional stem (one conv → BN → act at full resolution), then stages of conv → max-pool → BN →
  act followed by the stage's further convs (conv → BN → act), optionally as one residual
  branch; global pooling; one linear head. Convs carry no bias (BN follows). With
  ``pool_at="last"`` the max-pool moves to the stage's last conv (conv → BN → act ... conv →
  max-pool → BN → act), so all of a stage's convs work at its input resolution: the same
  parameters, about twice the MACs (for the `compact` preset 35.8M instead of 16.3M). The stem buys
  full-resolution features for few parameters (3 x stem x 9) but many MACs — a trade for when
  the parameter budget, not the time, is the limit (on 2 CPU cores it did not pay within 15
  minutes: benchmarks/RESULTS.md).
* ``resnet`` — He et al.'s CIFAR ResNets (ResNet-20 and kin): a full-resolution stem (conv → BN →
  act), then stages of residual blocks, two 3x3 convs each (conv → BN → act → conv → BN, added to
  the block's input, then act). A stage lists its convs' widths, two per block; every stage after
  the first halves the resolution with a stride-2 first conv instead of a max-pool. Where a block
  changes the width or the resolution, its shortcut is a 1x1 conv → BN ("option B"); elsewhere
  the identity. Global pooling, one linear head. Depth at a small width is what makes these nets
  parameter-efficient: the `resnet20` preset has 20 weight layers in 248,778 parameters.

Invalid descriptions raise :class:`~backend.core.errors.ArchitectureError` whose message starts with the
field path.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.core.option_field import option
from backend.core.validation import UNION_TAGS

MAX_WIDTH = 4096
Activation = Literal["relu", "gelu", "gelu_tanh"]


def _pools_allowed(input_size: int) -> int:
    """How many 2x2 pools a square input of this size survives (32 → 5: 32,16,8,4,2,1)."""
    return int(math.log2(input_size)) if input_size > 0 else 0


def _check_dropout(field: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{field}: dropout probability must be in [0, 1), got {p}")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field("custom", min_length=1, max_length=64)
    input_size: int = option(32, title="Input size", group="architecture", unit="pixels", advanced=True,
                             ge=1, le=512, help="input height = width; the images are resized to it")
    in_channels: int = option(3, title="Input channels", group="architecture", advanced=True, ge=1, le=16)
    num_classes: int = option(10, title="Classes", group="architecture", advanced=True, ge=2, le=1000)
    stages: list[list[int]] = option(
        title="Conv widths per stage", group="architecture", min_length=1,
        help="widths of the 3x3 convs in each stage (stages separated by '/', widths by ','); "
        "each stage ends at half the resolution",
        # checked by _check_stages (its messages name the stage); the schema says the same to clients
        json_schema_extra={"items": {"type": "array", "minItems": 1,
                                     "items": {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH}}},
    )

    @model_validator(mode="after")
    def _check_stages(self) -> _Base:
        for i, stage in enumerate(self.stages):
            if not stage:
                raise ValueError(f"stages[{i}]: a stage needs at least one conv width")
            for j, width in enumerate(stage):
                if width < 1:
                    raise ValueError(f"stages[{i}][{j}]: width must be at least 1, got {width}")
                if width > MAX_WIDTH:
                    raise ValueError(f"stages[{i}][{j}]: width must be at most {MAX_WIDTH}, got {width}")
        allowed = _pools_allowed(self.input_size)
        halvings, what = self._halvings()
        if halvings > allowed:
            raise ValueError(
                f"stages: {len(self.stages)} stages means {halvings} {what}, but a "
                f"{self.input_size}x{self.input_size} input allows at most {allowed}"
            )
        return self

    def _halvings(self) -> tuple[int, str]:
        """How many times the stages halve the resolution, and by what: a max-pool per stage here."""
        return len(self.stages), "max-pools"


class PlainArchitecture(_Base):
    family: Literal["plain"] = "plain"
    batch_norm: Literal["none", "first", "every"] = option(
        "none", title="Batch norm", group="architecture",
        help="BatchNorm2d after no conv, the first conv of each stage, or every conv",
    )
    hidden: list[int] = option(title="Hidden linear widths", group="architecture", default_factory=list,
                               help="widths of the hidden linear layers (comma-separated)")
    dropout_input: float = option(0.0, title="Dropout before the first linear", group="architecture",
                                  help="dropout probability before the first linear layer, in [0, 1)")
    dropout_hidden: float = option(0.0, title="Dropout after the hidden linears", group="architecture",
                                   help="dropout probability after each hidden linear layer, in [0, 1)")

    @model_validator(mode="after")
    def _check_head(self) -> PlainArchitecture:
        for j, width in enumerate(self.hidden):
            if not 1 <= width <= 65536:
                raise ValueError(f"hidden[{j}]: width must be between 1 and 65536, got {width}")
        for field in ("dropout_input", "dropout_hidden"):
            _check_dropout(field, getattr(self, field))
        return self


class CompactArchitecture(_Base):
    family: Literal["compact"] = "compact"
    stem: int = option(
        0, title="Stem width", group="architecture", ge=0, le=MAX_WIDTH,
        help="width of a full-resolution 3x3 conv-BN-act before the stages; 0 = none",
    )
    residual: bool = option(False, title="Residual stages", group="architecture",
                            help="add each stage's later convs back as one residual branch")
    pool_at: Literal["first", "last"] = option(
        "first", title="Max-pool of each stage", group="architecture",
        help="which conv of each stage the max-pool follows: its first (fewer MACs) or its last "
        "(same params, about twice the MACs)",
    )
    activation: Activation = option(
        "gelu", title="Activation", group="architecture",
        help="gelu_tanh: GELU's tanh approximation (within 0.0005 of the exact curve)",
    )
    global_pool: Literal["max", "avg"] = option("max", title="Global pool", group="architecture", advanced=True,
                                                help="how the last stage is pooled to one vector")
    dropout: float = option(0.0, title="Dropout before the head", group="architecture",
                            help="dropout probability before the linear head, in [0, 1)")

    def pooled_conv(self, stage: list[int]) -> int:
        """Index, within ``stage``, of the conv its max-pool follows (the summary and the model agree on it)."""
        return 0 if self.pool_at == "first" else len(stage) - 1

    @model_validator(mode="after")
    def _check_compact(self) -> CompactArchitecture:
        _check_dropout("dropout", self.dropout)
        if self.residual and self.pool_at == "last":
            raise ValueError(
                "pool_at: a residual stage pools after its first conv (its branch keeps that resolution); "
                "use pool_at 'first' with residual, or residual false"
            )
        if self.residual:
            for i, stage in enumerate(self.stages):
                if any(w != stage[0] for w in stage[1:]):
                    raise ValueError(
                        f"stages[{i}]: a residual stage needs its later convs as wide as its first "
                        f"({stage[0]}), got {stage}"
                    )
        return self


class ResNetArchitecture(_Base):
    family: Literal["resnet"] = "resnet"
    stem: int = option(16, title="Stem width", group="architecture", ge=1, le=MAX_WIDTH,
                       help="width of the full-resolution 3x3 conv-BN-act before the blocks")
    activation: Activation = option("relu", title="Activation", group="architecture",
                                    help="gelu_tanh: GELU's tanh approximation")
    global_pool: Literal["max", "avg"] = option("avg", title="Global pool", group="architecture", advanced=True,
                                                help="how the last stage is pooled to one vector")
    dropout: float = option(0.0, title="Dropout before the head", group="architecture",
                            help="dropout probability before the linear head, in [0, 1)")

    def _halvings(self) -> tuple[int, str]:
        return len(self.stages) - 1, "stride-2 downsamplings"  # the first stage keeps the stem's resolution

    @model_validator(mode="after")
    def _check_resnet(self) -> ResNetArchitecture:
        _check_dropout("dropout", self.dropout)
        for i, stage in enumerate(self.stages):
            if len(stage) % 2:
                raise ValueError(
                    f"stages[{i}]: a resnet stage is residual blocks of two convs each, so it needs an even "
                    f"number of widths, got {len(stage)}"
                )
        return self

    def blocks(self) -> list[tuple[int, int, int, int]]:
        """(index of the block's first conv, first width, second width, stride) for every block, in order."""
        out, k = [], 1
        for i, stage in enumerate(self.stages):
            for j in range(0, len(stage), 2):
                out.append((k, stage[j], stage[j + 1], 2 if i > 0 and j == 0 else 1))
                k += 2
        return out


AnyArchitecture = PlainArchitecture | CompactArchitecture | ResNetArchitecture
Architecture = Annotated[AnyArchitecture, Field(discriminator="family")]
FAMILIES: dict[str, type[PlainArchitecture | CompactArchitecture | ResNetArchitecture]] = {
    "plain": PlainArchitecture, "compact": CompactArchitecture, "resnet": ResNetArchitecture,
}
UNION_TAGS.update(FAMILIES)
