"""The one config object of a run — pure pydantic, no torch, so the backend can validate it.

Every run option is declared here and nowhere else: its type, default, limits, unit, help text,
the form group it belongs to and whether the form folds it under "Advanced" (``option``). The
training CLI's flags, the new-run form and the API schema are all read from these declarations
(``backend.training.options``). A config holds the complete architecture description (a preset name given
on input is expanded), so the same config always rebuilds the same network.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.architecture import ArchitectureError, parse_architecture
from backend.architecture.description import AnyArchitecture
from backend.core.option_field import option
from backend.core.settings import ONE_HOUR_S

MAX_EPOCHS = 1000  # a run's epochs at most; the ceiling of the recipes planned by their time budget

_STRICT = ConfigDict(extra="forbid", strict=True)  # a bool or a string is not a number
DEFAULT_HOLDOUT = 5_000  # validation images of a new run: CIFAR-10's 50,000 training images less 10%


class AugmentConfig(BaseModel):
    model_config = _STRICT

    crop: bool = option(False, title="Random crop", group="augmentation", help="random crop after zero padding")
    padding: int = option(4, title="Crop padding", group="augmentation", unit="pixels", advanced=True, ge=0, le=16,
                          help="zero padding around the image before the random crop")
    flip: bool = option(False, title="Horizontal flip", group="augmentation", help="random horizontal flip, p=0.5")
    alternate_flip: bool = option(
        False, title="Alternate the flip", group="augmentation", requires="augment.flip",
        help="with flip: mirror a random half of the images in the first epoch, then exactly the other "
        "half in each next epoch, so every image is seen both ways every two epochs (airbench's alternating flip)",
    )
    cutout: int = option(0, title="Cutout square", group="augmentation", unit="pixels", ge=0, le=32,
                         help="side of a random square zeroed per image, 0 = off")


class DataConfig(BaseModel):
    model_config = _STRICT

    source: str = option("cifar10", title="Dataset", group="data", min_length=1, max_length=4096,
                         help="'cifar10' (the lab's copy) or a path inside the lab's data folder")
    train_limit: int | None = option(None, title="Train images limit", group="data", unit="images", ge=1,
                                     help="use at most this many training images; empty = all")
    test_limit: int | None = option(None, title="Test images limit", group="data", unit="images", ge=1,
                                    help="use at most this many test images; empty = all")
    holdout: int = option(
        DEFAULT_HOLDOUT, title="Validation images", group="data", unit="images", ge=0, le=1_000_000,
        help="training images held out as a validation split, stratified by class and never trained on; the best "
        "epoch, checkpoint, early stop and every ranking are chosen on them, the test set only reports; 0 = none "
        "(choices are then made on the test set, and labelled so)",
    )
    holdout_seed: int = option(
        0, title="Validation split seed", group="data", advanced=True, ge=0, le=2**31 - 1,
        help="draws the held-out images; every run with the same holdout and this seed holds out exactly the same "
        "images, whatever its own seed",
    )

    @field_validator("source")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL's text cannot hold NUL and no path has one: refused at admission on every database
        if "\x00" in value:
            raise ValueError("holds a NUL character (\\x00); expected 'cifar10' or a path inside the lab's data folder")
        return value


class TrainConfig(BaseModel):
    model_config = _STRICT

    architecture: AnyArchitecture = Field(
        description="a preset name or a full description", json_schema_extra={"x-group": "architecture"}
    )
    data: DataConfig = Field(default_factory=DataConfig)
    epochs: int = option(30, title="Epochs", group="budget", unit="epochs", ge=1, le=MAX_EPOCHS)
    batch_size: int = option(256, title="Batch size", group="optimisation", unit="images", ge=1, le=8192,
                             help="images per optimizer step")
    eval_batch_size: int = option(1024, title="Evaluation batch size", group="evaluation", unit="images",
                                  advanced=True, ge=1, le=16384, help="test images per forward pass")
    optimizer: Literal["sgd", "adam", "adamw", "muon"] = option(
        "sgd", title="Optimizer", group="optimisation",
        help="sgd: (nesterov) momentum SGD; muon: Muon (orthogonalised momentum, torch.optim.Muon's Newton-Schulz "
        "step) for the conv filters at the Muon learning rate, (nesterov) momentum SGD for everything else",
    )
    muon_lr: float = option(
        0.02, title="Muon learning rate", group="optimisation", advanced=True, gt=0.0, le=10.0,
        help="optimizer muon: the conv filters' peak learning rate (the schedule moves it as it moves the other)",
    )
    momentum: float = option(0.9, title="Momentum", group="optimisation", advanced=True, ge=0.0, lt=1.0,
                             help="SGD momentum")
    nesterov: bool = option(True, title="Nesterov momentum", group="optimisation", advanced=True,
                            help="SGD: Nesterov's form of momentum")
    lr: float = option(0.2, title="Learning rate", group="optimisation", gt=0.0, le=100.0,
                       help="peak learning rate")
    bn_bias_lr_scale: float = option(
        1.0, title="Batch-norm learning-rate scale", group="optimisation", advanced=True, gt=0.0, le=64.0,
        help="multiplies the learning rate of the batch-norm weights and biases (airbench trains its "
        "batch-norm biases much faster than the convs); 1 = the same rate as every other parameter",
    )
    schedule: Literal["constant", "step", "cosine", "onecycle"] = option(
        "onecycle", title="Schedule", group="optimisation", help="how the learning rate moves over training"
    )
    schedule_by: Literal["epochs", "time_budget"] = option(
        "epochs", title="Anneal over", group="optimisation", advanced=True,
        help="anneal over the planned epochs, or over the time budget if that ends first",
    )
    warmup_fraction: float = option(0.2, title="Warm-up fraction", group="optimisation", advanced=True,
                                    ge=0.0, lt=1.0, help="onecycle: fraction of the steps warming up")
    step_epochs: int = option(30, title="Step every", group="optimisation", unit="epochs", advanced=True,
                              ge=1, le=1000, help="step: epochs between decays")
    step_gamma: float = option(0.1, title="Step factor", group="optimisation", advanced=True, gt=0.0, le=1.0,
                               help="step: decay factor")
    weight_decay: float = option(5e-4, title="Weight decay", group="optimisation", ge=0.0, le=1.0,
                                 help="L2 penalty on conv and linear weights (not on biases or batch norm)")
    label_smoothing: float = option(0.0, title="Label smoothing", group="optimisation", ge=0.0, lt=1.0)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    tta: bool = option(False, title="Flip at test time", group="evaluation",
                       help="average predictions over the image and its mirror at test time")
    tta_shift: int = option(
        0, title="Shifted copies at test time", group="evaluation", unit="pixels", ge=0, le=8,
        help="also average over two copies shifted by this many pixels diagonally (and their mirrors "
        "with tta), weighted half against the unshifted views; 0 = off. Costs 2-4 more forward passes per test image",
    )
    tta_each_epoch: bool = option(
        True, title="Test-time views every epoch", group="evaluation", advanced=True,
        help="evaluate every epoch with the test-time views; off: each epoch is evaluated on the image "
        "alone (one forward pass per test image) and the views serve only the run's final evaluation",
    )
    test_each_epoch: bool = option(
        True, title="Test set every epoch", group="evaluation", advanced=True,
        help="evaluate the test set after every epoch (its curve is drawn); off: each epoch is evaluated on the "
        "validation split only and the test set is read once, when training ends, with the chosen epoch's weights "
        "(what a search's trials do: nothing about a trial is seen on the test set before it ends). Off needs a "
        "validation split (data.holdout)",
    )
    whiten_init: bool = option(
        False, title="Whitening init of the first conv", group="optimisation",
        help="initialise the first conv as a whitening of the training images' patches (airbench): "
        "the patch covariance's top eigenvectors, scaled to unit variance, in +/- pairs; still trained",
    )
    conv_init: Literal["default", "dirac"] = option(
        "default", title="Conv initialisation", group="optimisation", advanced=True,
        help="dirac: each conv's first filters (as many as its input channels) start as the identity, the rest "
        "as by default, so a fresh net passes its input through (airbench); default: PyTorch's",
    )
    bn_weights_frozen: bool = option(
        False, title="Frozen batch-norm weights", group="optimisation", advanced=True,
        help="keep every batch-norm weight (scale) at 1 and train only the biases (airbench)",
    )
    ema_epochs: float | None = option(
        None, title="Weight averaging", group="optimisation", unit="epochs", gt=0.0, le=100.0,
        help="keep an exponential moving average of the weights (and batch-norm statistics) with this "
        "time constant, in epochs; each epoch is evaluated and checkpointed with the averaged weights, which are "
        "the run's reported model; empty = off",
    )
    early_stopping_patience: int | None = option(
        None, title="Early stopping patience", group="budget", unit="epochs", ge=1, le=1000,
        help="stop after this many epochs without a better validation accuracy (test accuracy without a "
        "holdout); empty = off",
    )
    seed: int = option(0, title="Seed", group="optimisation", ge=0, le=2**31 - 1,
                       help="seeds the initial weights, the batch order and the augmentation")
    time_budget_s: float = option(ONE_HOUR_S, title="Time budget", group="budget", unit="seconds", gt=0.0,
                                  le=86400.0, help="seconds of training")
    device: Literal["auto", "cpu", "cuda"] = option(
        "auto", title="Device", group="budget", advanced=True, help="auto: CUDA when the worker has it, else the CPU"
    )
    channels_last: bool = option(True, title="Channels-last memory", group="budget", advanced=True,
                                 help="NHWC tensors: faster convs on most CPUs and GPUs")
    precision: Literal["auto", "fp32", "bf16"] = option(
        "auto", title="Precision", group="budget", advanced=True,
        help="auto: bf16 autocast on CUDA, and on CPUs with native bf16 (avx512_bf16 / AMX); else fp32",
    )
    compile_step: bool = option(
        False, title="Captured training step", group="budget", advanced=True,
        help="CUDA only: torch.compile the model's training step (mode reduce-overhead: CUDA graphs, static "
        "shapes), so a small net's step is not bound by kernel launches; ignored on the CPU, where it is slower. "
        "Off until measured on a GPU (benchmarks/device_check.py)",
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
        if not self.test_each_epoch and self.data.holdout == 0:
            raise ValueError("test_each_epoch: off means the epochs are chosen on the validation split alone, "
                             "so it needs data.holdout of at least 1 image")
        if self.tta_shift >= self.architecture.input_size:
            raise ValueError(f"tta_shift: must be smaller than the input size {self.architecture.input_size}")
        return self
