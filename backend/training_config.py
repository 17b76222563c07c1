"""The one config object of a run — pure pydantic, no torch, so the backend can validate it.

Units are in the field descriptions. A config holds the complete architecture description (a
preset name given on input is expanded), so the same config always rebuilds the same network.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.architecture import ArchitectureError, parse_architecture
from backend.architecture.description import AnyArchitecture


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a bool or a string is not a number

    crop: bool = Field(False, description="random crop after zero padding")
    padding: int = Field(4, ge=0, le=16, description="pixels of zero padding for the random crop")
    flip: bool = Field(False, description="random horizontal flip, p=0.5")
    alternate_flip: bool = Field(
        False,
        description="with flip: mirror a random half of the images in the first epoch, then exactly the other "
        "half in each next epoch, so every image is seen both ways every two epochs (airbench's alternating flip)",
    )
    cutout: int = Field(0, ge=0, le=32, description="side of a random square zeroed per image, 0 = off")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a bool or a string is not a number

    source: str = Field("cifar10", min_length=1, description="'cifar10' (the lab's copy) or a path")
    train_limit: int | None = Field(None, ge=1, description="use at most this many training images")
    test_limit: int | None = Field(None, ge=1, description="use at most this many test images")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a bool or a string is not a number

    architecture: AnyArchitecture = Field(
        description="a preset name or a full description"
    )
    data: DataConfig = Field(default_factory=DataConfig)
    epochs: int = Field(30, ge=1, le=1000)
    batch_size: int = Field(256, ge=1, le=8192, description="images per step")
    eval_batch_size: int = Field(1024, ge=1, le=16384)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    nesterov: bool = True
    lr: float = Field(0.2, gt=0.0, le=100.0, description="peak learning rate")
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "onecycle"
    schedule_by: Literal["epochs", "time_budget"] = Field(
        "epochs", description="anneal over the planned epochs, or over the time budget if that ends first"
    )
    warmup_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="onecycle: fraction of steps warming up")
    step_epochs: int = Field(30, ge=1, description="step: epochs between decays")
    step_gamma: float = Field(0.1, gt=0.0, le=1.0, description="step: decay factor")
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    tta: bool = Field(False, description="average predictions over the image and its mirror at test time")
    tta_shift: int = Field(
        0, ge=0, le=8,
        description="also average over two copies shifted by this many pixels diagonally (and their mirrors "
        "with tta), weighted half against the unshifted views; 0 = off. Costs 2-4 more forward passes per test image",
    )
    tta_each_epoch: bool = Field(
        True,
        description="evaluate every epoch with the test-time views; off: each epoch is evaluated on the image "
        "alone (one forward pass per test image) and the views serve only the run's final evaluation",
    )
    whiten_init: bool = Field(
        False,
        description="initialise the first conv as a whitening of the training images' patches (airbench): "
        "the patch covariance's top eigenvectors, scaled to unit variance, in +/- pairs; still trained",
    )
    ema_epochs: float | None = Field(
        None, gt=0.0, le=100.0,
        description="keep an exponential moving average of the weights (and batch-norm statistics) with this "
        "time constant, in epochs; each epoch is evaluated and checkpointed with the averaged weights, which are "
        "the run's reported model; empty = off",
    )
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many epochs without a better test accuracy"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    time_budget_s: float = Field(3600.0, gt=0.0, le=86400.0, description="seconds of training")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    channels_last: bool = True
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, and on CPUs with native bf16 (avx512_bf16 / AMX); else fp32"
    )

    @field_validator("architecture", mode="before")
    @classmethod
    def _expand_architecture(cls, value: Any) -> Any:
        try:
            return parse_architecture(value)
        except ArchitectureError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check_combinations(self) -> TrainConfig:
        if self.augment.alternate_flip and not self.augment.flip:
            raise ValueError("augment.alternate_flip: says how to flip, so it needs augment.flip on")
        if self.augment.cutout >= self.architecture.input_size:
            raise ValueError(
                f"augment.cutout: must be smaller than the input size {self.architecture.input_size}"
            )
        if self.tta_shift >= self.architecture.input_size:
            raise ValueError(f"tta_shift: must be smaller than the input size {self.architecture.input_size}")
        return self
