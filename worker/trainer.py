"""The training loop: data on the device, batched augmentation, callbacks, budget, checkpoints.

``train(config, ...)`` is a library call with no web and no SQL. Hooks:
* ``on_epoch(metrics)`` — called once per finished epoch, before its checkpoint is written, so a
  reporter that records it first never loses an epoch (a crash in between re-runs that epoch,
  which reports the same epoch number again).
* ``should_stop()`` — checked before every batch; returns a reason (e.g. "cancelled") or None.
* ``on_checkpoint(folder, epoch, best_too)`` — after last.pt (and best.pt when it improved) is written.
* ``on_batch(epoch, batches_done, batches_per_epoch, images_seen, epoch_seconds)`` — after every
  optimizer step: progress inside an epoch (the reporter's heartbeat carries the latest).

Choices are made on the validation split when the dataset carries one (``data.holdout``): the
best epoch, the best checkpoint (and so the exported model and the class report) and early
stopping read ``val_acc`` alone; the test set only reports. Without a holdout they read the test
accuracy, and the result says so (``selected_on = "test"``). With ``test_each_epoch`` off (a search's
trials) the epochs are not evaluated on the test set at all: it is read once, when training ends, with
the chosen epoch's weights (the class report), and that is the run's test accuracy.

When the time budget ends inside an epoch, the weights trained so far (the most annealed ones
under ``schedule_by = "time_budget"``) are evaluated and recorded as a last, partial epoch with
the ``fraction`` of it trained; a cancel drops the partial epoch.

With ``ema_epochs`` the run evaluates, reports and checkpoints (as "model") a moving average of
the weights; the weights being trained are checkpointed beside it as "train_model" for resuming.

Randomness is drawn per epoch from generators seeded by (seed, epoch), so a run resumed from its
last checkpoint continues exactly as if it had never stopped (same seed, same CPU → same numbers).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backend.architecture import summarize
from backend.core.formats import fixed, percent
from backend.core.statuses import StopReason
from backend.training.config import TrainConfig
from worker import checkpoint
from worker.augment import (
    EpochDraws,
    alternating_flips,
    crop_at,
    cutout,
    cutout_at,
    epoch_draws,
    flip_where,
    random_crop,
    random_flip,
)
from worker.averaging import WeightAverage
from worker.data import ImageDataset
from worker.device import DeviceData, autocast, pick_device, prepare_device, use_bf16
from worker.evaluation import class_report, evaluate, views_label
from worker.knobs import apply_knobs
from worker.model import build_model
from worker.muon import MuonSGD, conv_filters
from worker.schedule import lr_at
from worker.whitening import first_conv, whiten_first_conv

COMPLETED, EARLY_STOPPING, TIME_BUDGET, DIVERGED = (StopReason.COMPLETED, StopReason.EARLY_STOPPING,
                                                   StopReason.TIME_BUDGET, StopReason.DIVERGED)
# whiten_init estimates the patch covariance on every k-th training image, k = n // WHITEN_IMAGES:
# between this many and twice this many images (all of them when there are fewer)
WHITEN_IMAGES = 10_000
# Each epoch's order and augmentation draws are made at its start and moved to the device in one
# transfer (worker.augment.epoch_draws): the same numbers as drawing them batch by batch, which
# False restores — the reference that tests/worker/test_gpu.py and benchmarks/step_speed.py
# compare against, never a setting.
PER_EPOCH_DRAWS = True


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean training criterion over the epoch's batches (running, train mode)
    train_acc: float  # fraction of training images classified right while training (running)
    test_loss: float | None  # mean cross-entropy on the test set (None: the run reads it only at its end)
    test_acc: float | None  # fraction of the test set classified right
    lr: float  # learning rate at the end of the epoch
    seconds: float  # wall time of the epoch, evaluation included
    val_loss: float | None = None  # mean cross-entropy on the validation split (None: no holdout)
    val_acc: float | None = None
    fraction: float = 1.0  # of the epoch's batches trained: < 1 for an epoch cut by the time budget

    def seed_line(self) -> str:
        """The seed report's line: `[epoch 117] train accuracy: 91% ... duration: 27.22`, with the
        validation accuracy after the test's when the run holds out images (alone when the run reads the test
        set only at its end)."""
        test = f"test accuracy: {percent(self.test_acc)}% " if self.test_acc is not None else ""
        val = f"val accuracy: {percent(self.val_acc)}% " if self.val_acc is not None else ""
        part = f" (partial: {percent(self.fraction)}% of the epoch)" if self.fraction < 1 else ""
        return (  # rounded as the dashboard rounds (backend.core.formats): halves up
            f"[epoch {self.epoch}] train accuracy: {percent(self.train_acc)}% "
            f"{test}{val}loss: {fixed(self.train_loss, 3)} "
            f"duration: {fixed(self.seconds, 2)}{part}"
        )

    def score(self, selected_on: str) -> float:
        """What chooses among epochs: validation accuracy, or test accuracy without a holdout."""
        value = self.val_acc if selected_on == "val" else self.test_acc
        assert value is not None  # a run choosing on the test set reads it every epoch (TrainConfig)
        return value


@dataclass
class TrainResult:
    config: dict[str, Any]
    params: int
    macs: int
    device: str
    history: list[EpochMetrics] = field(default_factory=list)
    selected_on: str = "test"  # "val" when the data held out a validation split: what chose best_epoch
    holdout: int = 0  # validation images
    best_epoch: int = 0  # the chosen epoch (0: none yet)
    best_score: float = 0.0  # its val_acc (its test_acc when selected_on == "test")
    stop_reason: str = COMPLETED
    elapsed_s: float = 0.0
    resumed_from: int = 0  # the epoch the last checkpoint held when this call started
    evaluation: dict[str, Any] | None = None  # worker.evaluation.class_report of the best weights
    final_eval_s: float = 0.0  # the class report's evaluation, after (and outside) the training time

    @property
    def chosen(self) -> EpochMetrics | None:
        return next((m for m in self.history if m.epoch == self.best_epoch), None)

    @property
    def test_acc_at_best(self) -> float | None:
        """The headline: test accuracy of the chosen epoch's weights — its epoch's evaluation, or, for a run
        that reads the test set only at its end, the final evaluation of those weights (None before it)."""
        chosen = self.chosen
        if chosen is None:
            return None
        if chosen.test_acc is not None:
            return chosen.test_acc
        if self.evaluation is not None and self.evaluation["epoch"] == self.best_epoch:
            return float(self.evaluation["accuracy"])
        return None

    @property
    def best_val_acc(self) -> float | None:
        return self.chosen.val_acc if self.chosen else None

    @property
    def final_test_acc(self) -> float | None:
        """The last epoch's test accuracy (None when the run reads the test set only at its end)."""
        return self.history[-1].test_acc if self.history else None

    @property
    def best_test_acc(self) -> float | None:
        """The maximum over epochs of test accuracy: reported, never the basis of a choice."""
        return max((m.test_acc for m in self.history if m.test_acc is not None), default=None)

    @property
    def chosen_on_words(self) -> str:
        return (f"{self.holdout:,} held-out training images" if self.selected_on == "val"
                else "the test set (no validation split)")

    def record(self, metrics: EpochMetrics) -> bool:
        """Add a trained epoch to the history; whether it is the best so far (the first one is)."""
        self.history.append(metrics)
        score = metrics.score(self.selected_on)
        improved = score > self.best_score or self.best_epoch == 0
        if improved:
            self.best_score, self.best_epoch = score, metrics.epoch
        return improved

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [asdict(m) for m in self.history]
        out.update(test_acc_at_best=self.test_acc_at_best, best_val_acc=self.best_val_acc,
                   final_test_acc=self.final_test_acc, best_test_acc=self.best_test_acc)
        return out


def finished_line(seconds: float) -> str:
    s = int(round(seconds))
    return f"Training finished in {s // 3600:02d}h {s % 3600 // 60:02d}min {s % 60:02d}sec"


def whitening_sample(data: DeviceData) -> torch.Tensor:
    """The normalised training images whiten_init estimates the patch covariance on."""
    return data.normalize(data.train_x[:: max(1, len(data.train_y) // WHITEN_IMAGES)])


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """No weight decay on batch-norm and bias parameters (1-D tensors). With ``bn_bias_lr_scale``
    the batch-norm weights and biases get a group of their own whose rate is the schedule's times
    the scale (each group's ``lr_scale``); at 1 the groups are the two they always were, so older
    checkpoints resume."""
    trained = [p for p in model.parameters() if p.requires_grad]  # frozen batch-norm weights aside
    filters = {id(p) for p in conv_filters(model, skip=[first_conv(model).weight] if config.whiten_init else [])} \
        if config.optimizer == "muon" else set()
    decay = [p for p in trained if p.ndim > 1 and id(p) not in filters]
    norm_ids = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for p in m.parameters()} if config.bn_bias_lr_scale != 1.0 else set()
    norm = [p for p in trained if id(p) in norm_ids]
    rest = [p for p in trained if p.ndim <= 1 and id(p) not in norm_ids]
    groups: list[dict[str, Any]] = [{"params": decay, "weight_decay": config.weight_decay, "lr_scale": 1.0},
                                    {"params": rest, "weight_decay": 0.0, "lr_scale": 1.0}]
    if norm:
        groups.append({"params": norm, "weight_decay": 0.0, "lr_scale": config.bn_bias_lr_scale})
    if config.optimizer == "muon":  # the conv filters at the Muon rate, each group as the schedule moves it
        muon = [p for p in trained if id(p) in filters]  # the other groups take MuonSGD's default, muon False
        groups.append({"params": muon, "weight_decay": config.weight_decay, "lr_scale": config.muon_lr / config.lr,
                       "muon": True})
        return MuonSGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "sgd":
        nesterov = config.nesterov and config.momentum > 0
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=nesterov)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.AdamW(groups, lr=config.lr)


def _augment_drawn(x: torch.Tensor, config: TrainConfig, draws: EpochDraws, idx: torch.Tensor, start: int,
                   stop: int) -> torch.Tensor:
    """The batch at positions [start, stop) of the epoch's order (images ``idx``), augmented with the
    epoch's draws, which are already on the device: no step waits for the host."""
    aug = config.augment
    dy, dx, flip, cy, cx = (draws.row(name, start, stop) for name in ("dy", "dx", "flip", "cy", "cx"))
    if dy is not None and dx is not None:
        x = crop_at(x, aug.padding, dy, dx)
    if aug.flip:
        mask = draws.table[draws.rows["alternate"]][idx] if aug.alternate_flip else flip
        assert mask is not None
        x = flip_where(x, mask.bool())
    if cy is not None and cx is not None:
        x = cutout_at(x, aug.cutout, cy, cx)
    return x


def _augment(x: torch.Tensor, config: TrainConfig, gen: torch.Generator, flips: torch.Tensor | None) -> torch.Tensor:
    """The reference (PER_EPOCH_DRAWS = False): draws made batch by batch and moved to the device
    each step. ``flips``: which images of the batch to mirror (alternating flip); None draws them at random."""
    aug = config.augment
    if aug.crop:
        x = random_crop(x, aug.padding, gen)
    if aug.flip:
        x = flip_where(x, flips) if flips is not None else random_flip(x, gen)
    if aug.cutout:
        x = cutout(x, aug.cutout, gen)
    return x


@dataclass
class _Loop:
    """What the steps of a run share: the model, its optimizer and the data on the device, the
    shape of an epoch, where checkpoints go, and the clock the time budget reads."""

    config: TrainConfig
    device: torch.device
    bf16: bool
    dd: DeviceData
    model: nn.Module  # the weights being trained
    optimizer: torch.optim.Optimizer
    criterion: nn.CrossEntropyLoss
    n: int  # training images
    steps_per_epoch: int
    drop_single: bool  # the epoch's last batch would hold one image: skipped (a batch of one breaks batch norm)
    epoch_views: tuple[bool, int]  # the test-time views (flip, shift) of each epoch's evaluation
    ckpt_dir: Path | None
    clock: Callable[[], float]
    should_stop: Callable[[], str | None] | None
    on_batch: Callable[[int, int, int, int, float], None] | None
    average: WeightAverage | None = None  # with ema_epochs: the moving average of the weights
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # the captured step's model (compile_step on CUDA)
    checkpoint_every_s: float = 0.0  # at most one checkpoint per this many seconds (0: every epoch)
    last_written: float = 0.0  # the clock at the last checkpoint (or when training began)
    pending_last: dict[str, Any] | None = None  # the last recorded epoch's state, not written yet
    pending_best: dict[str, Any] | None = None  # the best epoch's state, not written yet
    best_in_memory: dict[str, Any] | None = None  # without a checkpoint folder: the chosen epoch's weights
    prior_elapsed: float = 0.0  # training seconds spent before this call (a resumed run's)
    started: float = 0.0  # the clock when this call's training began

    @property
    def evaluated(self) -> nn.Module:
        """The weights each epoch reports and checkpoints as "model"."""
        return self.average.model if self.average else self.model

    def elapsed(self) -> float:
        return self.prior_elapsed + self.clock() - self.started

    def stop_reason(self) -> str | None:
        reason = self.should_stop() if self.should_stop else None
        if reason is None and self.elapsed() >= self.config.time_budget_s:
            reason = TIME_BUDGET
        return reason


@dataclass
class _EpochPass:
    """One epoch's pass over the training images: its running sums, still on the device (read after
    the evaluation), the rate of its last step, and why it stopped before its end (None: it did not)."""

    epoch: int
    started: float  # the clock when the epoch began
    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int  # images trained on
    lr: float
    reason: str | None

    @property
    def cut(self) -> bool:
        """Cut by the time budget after some training: the budget's last weights count, recorded as a partial epoch."""
        return self.reason == TIME_BUDGET and self.seen > 0


def train(
    config: TrainConfig,
    data: ImageDataset,
    *,
    checkpoint_dir: Path | str | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,
    on_batch: Callable[[int, int, int, int, float], None] | None = None,
    on_checkpoint: Callable[[Path, int, bool], None] | None = None,
    log: Callable[[str], None] | None = print,
    clock: Callable[[], float] = time.perf_counter,
    checkpoint_every_s: float = 0.0,
) -> TrainResult:
    """Train ``config`` on ``data``; resume from ``checkpoint_dir/last.pt`` when it exists.

    ``checkpoint_every_s`` > 0 writes checkpoints at most that often (a GPU's epochs take well under
    a second: writing and uploading each would be most of the work); the last recorded epoch is
    always written when training ends, whatever ended it, and best.pt always holds the best epoch."""
    emit = log or (lambda _line: None)
    device = pick_device(config.device)
    _check_fits(config, data)
    result, loop = _prepare(config, data, device, checkpoint_dir, clock, should_stop, on_batch)
    start_epoch = _resume(loop, result, emit)
    loop.started = loop.last_written = clock()  # the time budget counts from here (plus a resumed run's)
    loop.checkpoint_every_s = checkpoint_every_s
    reason: str | None = None  # why training stopped (None: it ran its epochs)
    lr = lr_at(config, (start_epoch - 1) * loop.steps_per_epoch, loop.steps_per_epoch)
    for epoch in range(start_epoch, config.epochs + 1):
        trained = _train_epoch(loop, epoch, lr)
        lr, reason = trained.lr, trained.reason
        if reason and not trained.cut:
            emit(f"Stopped during epoch {epoch}: {describe_stop(reason, config)}; the partial epoch is not recorded")
            break
        metrics = _evaluate_epoch(loop, result, trained)
        if _diverged(metrics):
            reason = DIVERGED  # a non-finite loss is not an epoch to record or to resume from
            emit(f"Stopped at epoch {epoch}: {describe_stop(reason, config)}")
            break
        improved = result.record(metrics)
        emit(metrics.seed_line())
        if on_epoch:
            on_epoch(metrics)
        if loop.ckpt_dir:
            _save_checkpoint(loop, result, loop.ckpt_dir, epoch, improved, on_checkpoint)
        elif improved and not config.test_each_epoch:  # the end's test read needs the chosen weights
            loop.best_in_memory = {"model": copy.deepcopy(loop.evaluated.state_dict()), "epoch": epoch}
        if trained.cut:
            emit(f"Stopped during epoch {epoch}: {describe_stop(TIME_BUDGET, config)}; its {metrics.fraction:.0%} "
                 "trained is recorded as the last epoch")
            break
        patience = config.early_stopping_patience
        if patience and epoch - result.best_epoch >= patience:
            reason = EARLY_STOPPING
            emit(f"Stopped after epoch {epoch}: {describe_stop(reason, config)}")
            break
    if loop.ckpt_dir:
        _flush_checkpoint(loop, loop.ckpt_dir, on_checkpoint)
    _finish(loop, result, reason, emit)
    if result.history:
        _report_classes(loop, result, data, emit)
    return result


def _check_fits(config: TrainConfig, data: ImageDataset) -> None:
    """The architecture's input size and classes, and the config's holdout, match the dataset."""
    arch = config.architecture
    if data.train_x.shape[1] != arch.input_size:
        raise ValueError(
            f"architecture.input_size: {arch.input_size} does not match the dataset's "
            f"{data.train_x.shape[1]}x{data.train_x.shape[2]} images"
        )
    if len(data.classes) != arch.num_classes:
        raise ValueError(
            f"architecture.num_classes: {arch.num_classes} does not match the dataset's {len(data.classes)} classes"
        )
    held = len(data.val_y) if data.val_y is not None else 0
    if held != config.data.holdout:
        raise ValueError(f"data.holdout: the config holds out {config.data.holdout:,} images but the dataset carries "
                         f"{held:,}; prepare it with worker.data.run_split(data, config)")


def _prepare(
    config: TrainConfig,
    data: ImageDataset,
    device: torch.device,
    checkpoint_dir: Path | str | None,
    clock: Callable[[], float],
    should_stop: Callable[[], str | None] | None,
    on_batch: Callable[[int, int, int, int, float], None] | None,
) -> tuple[TrainResult, _Loop]:
    """The result to fill in, and a fresh model (from ``config.seed``), its optimizer and the data on the device."""
    summary = summarize(config.architecture)
    bf16 = use_bf16(device, config.precision)
    # the test-time views of each epoch's evaluation; the final one always uses the config's
    epoch_views = (config.tta, config.tta_shift) if config.tta_each_epoch else (False, 0)
    result = TrainResult(config.model_dump(mode="json"), summary.total_params, summary.total_macs,
                         f"{device} ({'bf16' if bf16 else 'fp32'})")
    if data.has_validation:
        assert data.val_y is not None
        result.selected_on, result.holdout = "val", len(data.val_y)

    prepare_device(device, bf16)
    torch.manual_seed(config.seed)
    model = build_model(config.architecture).to(device)
    dd = DeviceData(data, device, config.channels_last)
    model = model.to(memory_format=dd.memory_format)
    apply_knobs(config, model)  # dirac starts, frozen batch-norm weights: before the optimizer takes the params
    optimizer = _optimizer(config, model)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    n = len(dd.train_y)
    loop = _Loop(
        config=config, device=device, bf16=bf16, dd=dd, model=model, optimizer=optimizer, criterion=criterion, n=n,
        steps_per_epoch=max(1, math.ceil(n / config.batch_size)), drop_single=n % config.batch_size == 1,
        epoch_views=epoch_views, ckpt_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None,
        clock=clock, should_stop=should_stop, on_batch=on_batch,
    )
    if config.compile_step and device.type == "cuda":  # static shapes: a last, smaller batch compiles once more
        loop.forward = torch.compile(model, mode="reduce-overhead", dynamic=False)
    return result, loop


def _resume(loop: _Loop, result: TrainResult, emit: Callable[[str], None]) -> int:
    """Continue from the folder's last.pt when there is one (the weights, the optimizer, the history,
    the best epoch, the time spent), else start afresh (whitening the first convolution when asked);
    then start the weight average. Returns the first epoch to train."""
    config, model = loop.config, loop.model
    start_epoch = 1
    state = checkpoint.load(loop.ckpt_dir / checkpoint.LAST, loop.device) if loop.ckpt_dir else None
    if state is not None:
        assert loop.ckpt_dir is not None  # the state was read from it
        model.load_state_dict(state.get("train_model", state["model"]))
        loop.optimizer.load_state_dict(state["optimizer"])
        result.history = [EpochMetrics(**m) for m in state["history"]]
        result.best_score, result.best_epoch = state.get("best_score", state.get("best_acc", 0.0)), state["best_epoch"]
        start_epoch, loop.prior_elapsed = state["epoch"] + 1, state["elapsed_s"]
        result.resumed_from = state["epoch"]
        emit(f"Resuming from epoch {state['epoch']} ({loop.ckpt_dir / checkpoint.LAST})")
    elif config.whiten_init and len(loop.dd.train_y):  # a fresh run; a resumed one has its trained weights
        whiten_first_conv(model, whitening_sample(loop.dd))
    if config.ema_epochs:
        loop.average = WeightAverage(model, config.ema_epochs * loop.steps_per_epoch)
        if state is not None:
            loop.average.model.load_state_dict(state["model"])
    return start_epoch


def _train_epoch(loop: _Loop, epoch: int, lr: float) -> _EpochPass:
    """One pass over the training images in the epoch's order (drawn from (seed, epoch)), asking
    before every batch whether to stop. ``lr``: the rate so far, the epoch's if no step sets one."""
    config, device, dd, model, optimizer, criterion, average, bf16 = (
        loop.config, loop.device, loop.dd, loop.model, loop.optimizer, loop.criterion, loop.average, loop.bf16)
    n, steps_per_epoch, drop_single = loop.n, loop.steps_per_epoch, loop.drop_single
    clock, elapsed, stop_reason, on_batch = loop.clock, loop.elapsed, loop.stop_reason, loop.on_batch
    epoch_start = clock()
    torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout and the like
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    aug, batch = config.augment, config.batch_size
    alternate = alternating_flips(n, config.seed, epoch) if aug.alternate_flip else None
    draws = order = flips = None
    if PER_EPOCH_DRAWS:
        sizes = [min(batch, n - b * batch) for b in range(steps_per_epoch)]
        draws = epoch_draws(torch.randperm(n, generator=gen), sizes[:-1] if drop_single else sizes, gen,
                            padding=aug.padding if aug.crop else 0, flip=aug.flip and not aug.alternate_flip,
                            cutout_hw=tuple(dd.train_x.shape[2:4]) if aug.cutout else None,  # type: ignore[arg-type]
                            device=device, alternate=alternate)
    else:
        order = torch.randperm(n, generator=gen).to(device)
        flips = alternate.to(device) if alternate is not None else None
    model.train()
    forward = loop.forward or model
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    reason: str | None = None
    for b in range(steps_per_epoch):
        reason = stop_reason()
        if reason:
            break
        start, stop = b * batch, (b + 1) * batch
        idx = draws.table[0, start:stop] if draws is not None else order[start:stop]  # type: ignore[index]
        if drop_single and len(idx) == 1:
            continue
        step = (epoch - 1) * steps_per_epoch + b
        lr = lr_at(config, step, steps_per_epoch, elapsed())
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints from before the scale lack it
        if draws is not None:
            x = dd.normalize(_augment_drawn(dd.train_x[idx], config, draws, idx, start, stop))
        else:
            x = dd.normalize(_augment(dd.train_x[idx], config, gen, flips[idx] if flips is not None else None))
        y = dd.train_y[idx]
        with autocast(device, bf16):
            logits = forward(x)
            loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average:
            average.update(model, step)
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if on_batch:
            on_batch(epoch, b + 1, steps_per_epoch, seen, clock() - epoch_start)
    return _EpochPass(epoch, epoch_start, loss_sum, correct, seen, lr, reason)


def _evaluate_epoch(loop: _Loop, result: TrainResult, trained: _EpochPass) -> EpochMetrics:
    """The epoch's metrics: its training sums, and its weights (the average's with ``ema_epochs``)
    evaluated on the test set, and on the validation split when the data holds one out."""
    config, evaluated, (flip, shift) = loop.config, loop.evaluated, loop.epoch_views
    test_loss = test_acc = val_loss = val_acc = None
    if config.test_each_epoch:  # else the test set waits for the end (_report_classes)
        test_loss, test_acc, _ = evaluate(evaluated, loop.dd, config.eval_batch_size, flip, loop.bf16, shift)
    if result.selected_on == "val":
        val_loss, val_acc, _ = evaluate(evaluated, loop.dd, config.eval_batch_size, flip, loop.bf16, shift,
                                        split="val")
    seen = trained.seen
    return EpochMetrics(
        epoch=trained.epoch,
        train_loss=trained.loss_sum.item() / max(seen, 1),
        train_acc=trained.correct.item() / max(seen, 1),
        test_loss=test_loss,
        test_acc=test_acc,
        lr=trained.lr,
        seconds=loop.clock() - trained.started,
        val_loss=val_loss,
        val_acc=val_acc,
        fraction=min(1.0, seen / loop.n) if trained.cut else 1.0,
    )


def _diverged(metrics: EpochMetrics) -> bool:
    losses = (metrics.train_loss, metrics.test_loss, metrics.val_loss)
    return not all(math.isfinite(v) for v in losses if v is not None)


def checkpoint_due(now: float, last_written: float, every_s: float) -> bool:
    """Whether an epoch's checkpoint is written now: always with no interval (``every_s`` <= 0),
    else once ``every_s`` seconds have passed since the last one (or since training began)."""
    return every_s <= 0 or now - last_written >= every_s


def _save_checkpoint(loop: _Loop, result: TrainResult, folder: Path, epoch: int, improved: bool,
                     on_checkpoint: Callable[[Path, int, bool], None] | None) -> None:
    """last.pt, and best.pt when the epoch improved on the best: what a resumed run continues from.
    Between checkpoints (``checkpoint_every_s``) the epoch's state is kept in memory instead — a copy
    on the device, no sync — the best one too, for the next write or for _flush_checkpoint."""
    state = _state(loop, result, epoch)
    if not checkpoint_due(loop.clock(), loop.last_written, loop.checkpoint_every_s):
        loop.pending_last = copy.deepcopy(state)
        if improved:
            loop.pending_best = loop.pending_last
        return
    loop.pending_last = None
    _write_checkpoint(loop, folder, state, state if improved else None, on_checkpoint)


def _flush_checkpoint(loop: _Loop, folder: Path, on_checkpoint: Callable[[Path, int, bool], None] | None) -> None:
    """When training ends (completed, cancelled, out of time, diverged): the last recorded epoch's
    state, if the interval held it back, is written now."""
    if loop.pending_last is not None:
        state, loop.pending_last = loop.pending_last, None
        _write_checkpoint(loop, folder, state, None, on_checkpoint)


def _write_checkpoint(loop: _Loop, folder: Path, state: dict[str, Any], best: dict[str, Any] | None,
                      on_checkpoint: Callable[[Path, int, bool], None] | None) -> None:
    best = best or loop.pending_best
    loop.pending_best = None
    if best is not None:
        checkpoint.save(folder / checkpoint.BEST, best)
    checkpoint.save(folder / checkpoint.LAST, state)
    loop.last_written = loop.clock()
    if on_checkpoint:
        on_checkpoint(folder, int(state["epoch"]), best is not None)


def _state(loop: _Loop, result: TrainResult, epoch: int) -> dict[str, Any]:
    """What a checkpoint holds after ``epoch``."""
    return {
        "model": loop.evaluated.state_dict(),
        **({"train_model": loop.model.state_dict()} if loop.average else {}),
        "optimizer": loop.optimizer.state_dict(),
        "epoch": epoch,
        "config": result.config,
        "history": [asdict(m) for m in result.history],
        "selected_on": result.selected_on,
        "best_score": result.best_score,
        "best_epoch": result.best_epoch,
        "test_acc_at_best": result.test_acc_at_best,
        "elapsed_s": loop.elapsed(),
    }


def _finish(loop: _Loop, result: TrainResult, reason: str | None, emit: Callable[[str], None]) -> None:
    """Why training ended, and the time it took (this call's and any before a resume)."""
    result.stop_reason = reason or COMPLETED
    result.elapsed_s = loop.elapsed()
    emit(finished_line(result.elapsed_s))


def _report_classes(loop: _Loop, result: TrainResult, data: ImageDataset, emit: Callable[[str], None]) -> None:
    """The class report of the chosen epoch's weights (best.pt when checkpointed, else the last
    epoch's; a run reading the test set only now keeps them in memory) under the config's test-time
    views; its time is kept apart from the training's."""
    config = loop.config
    eval_start = loop.clock()
    best = checkpoint.load(loop.ckpt_dir / checkpoint.BEST, loop.device) if loop.ckpt_dir else loop.best_in_memory
    evaluated = loop.evaluated
    if best is not None:
        evaluated.load_state_dict(best["model"])  # the report describes the best epoch's weights
    _, _, predicted = evaluate(evaluated, loop.dd, config.eval_batch_size, config.tta, loop.bf16, config.tta_shift)
    result.evaluation = class_report(data, predicted, best["epoch"] if best else result.history[-1].epoch,
                                     views=views_label(config.tta, config.tta_shift))
    result.final_eval_s = loop.clock() - eval_start
    if not config.tta_each_epoch or not config.test_each_epoch:
        emit(f"Final evaluation ({result.evaluation['views']}, weights of epoch {result.evaluation['epoch']}): "
             f"test accuracy {result.evaluation['accuracy']:.2%} in {result.final_eval_s:.1f} s")


def describe_stop(reason: str, config: TrainConfig) -> str:
    if reason == TIME_BUDGET:
        return f"time budget of {config.time_budget_s:g} s reached"
    if reason == DIVERGED:
        return "the loss diverged (not a finite number); try a smaller learning rate"
    if reason == EARLY_STOPPING:
        chosen_on = "validation" if config.data.holdout else "test"
        return f"no better {chosen_on} accuracy for {config.early_stopping_patience} epochs (early stopping)"
    return reason
