"""The training loop on tiny generated data: learning, stopping, budgets, checkpoints, resume."""

from __future__ import annotations

import base64
import itertools
import math
from dataclasses import asdict

import pytest
import torch

from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from worker import checkpoint
from worker.augment import alternating_flips
from worker.device import DeviceData, use_bf16
from worker.evaluation import evaluate, tta_logits
from worker.model import build_model
from worker.trainer import EARLY_STOPPING, TIME_BUDGET, _optimizer, finished_line, train

TINY_ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 3}


@pytest.fixture(scope="module")
def data():
    return make_arrays(classes=3, train_per_class=40, test_per_class=20)


def config(**overrides) -> TrainConfig:
    """No validation split: the split and the choices it makes have their own tests (test_validation_split)."""
    base = {"architecture": TINY_ARCH, "epochs": 4, "batch_size": 16, "lr": 0.05, "device": "cpu",
            "augment": {"crop": True, "flip": True}, "data": {"holdout": 0}}
    return TrainConfig.model_validate({**base, **overrides})


def without_seconds(history) -> list[dict]:
    return [{k: v for k, v in asdict(m).items() if k != "seconds"} for m in history]


@pytest.mark.parametrize("architecture", [TINY_ARCH, {"family": "resnet", "stem": 8, "stages": [[8, 8], [16, 16]],
                                                       "num_classes": 3}], ids=["compact", "resnet"])
def test_loss_falls_and_the_net_learns(data, architecture) -> None:
    result = train(config(epochs=6, architecture=architecture), data, log=None)
    assert len(result.history) == 6
    assert result.history[-1].train_loss < 0.7 * result.history[0].train_loss
    assert result.test_acc_at_best > 0.8  # three easy classes; chance is 1/3
    assert result.stop_reason == "completed"
    model = build_model(config(architecture=architecture).architecture)
    assert result.params == sum(p.numel() for p in model.parameters())


def test_every_epoch_reaches_the_callback_in_order(data) -> None:
    seen = []
    train(config(epochs=3), data, on_epoch=seen.append, log=None)
    assert [m.epoch for m in seen] == [1, 2, 3]
    assert all(0.0 <= m.test_acc <= 1.0 and m.seconds > 0 and m.lr > 0 for m in seen)


def test_same_seed_same_numbers(data) -> None:
    a = train(config(epochs=2, seed=7), data, log=None)
    b = train(config(epochs=2, seed=7), data, log=None)
    c = train(config(epochs=2, seed=8), data, log=None)
    assert without_seconds(a.history) == without_seconds(b.history)
    assert without_seconds(a.history) != without_seconds(c.history)


def test_early_stopping_after_patience_epochs_without_progress(data) -> None:
    # a learning rate too small to learn: test accuracy soon stops improving
    result = train(config(epochs=30, lr=1e-9, schedule="constant", early_stopping_patience=2), data, log=None)
    assert result.stop_reason == EARLY_STOPPING
    assert result.history[-1].epoch == result.best_epoch + 2 < 30
    best = result.history[result.best_epoch - 1].test_acc
    assert all(m.test_acc <= best for m in result.history[result.best_epoch :])


def test_time_budget_stops_cleanly_and_keeps_recorded_epochs(data, tmp_path) -> None:
    ticks = itertools.count()  # a fake clock: one second per reading
    lines: list[str] = []
    result = train(config(epochs=50, time_budget_s=60), data, checkpoint_dir=tmp_path,
                   clock=lambda: float(next(ticks)), log=lines.append)
    assert result.stop_reason == TIME_BUDGET
    assert 1 <= len(result.history) < 50
    assert any("time budget of 60 s reached" in line for line in lines)
    last = checkpoint.load(tmp_path / checkpoint.LAST)
    assert last["epoch"] == len(result.history)
    assert (tmp_path / checkpoint.BEST).is_file()


def test_cancel_stops_within_one_batch(data) -> None:
    batches_before_cancel: list[tuple[int, int]] = []
    batches_after_cancel: list[tuple[int, int]] = []
    state = {"cancelled": False, "calls_after": 0}

    def should_stop():
        if state["cancelled"]:
            state["calls_after"] += 1
            return "cancelled"
        return None

    def on_batch(epoch, batches_done, batches_per_epoch, images_seen, epoch_seconds):
        # every optimizer step the trainer takes, sorted by whether the cancel had been asked for
        (batches_after_cancel if state["cancelled"] else batches_before_cancel).append((epoch, batches_done))

    def on_epoch(m):
        state["cancelled"] = True  # cancel as soon as epoch 1 is recorded

    result = train(config(epochs=5), data, on_epoch=on_epoch, on_batch=on_batch, should_stop=should_stop, log=None)
    assert result.stop_reason == "cancelled"
    assert len(result.history) == 1
    assert state["calls_after"] == 1  # the very next batch check stopped it
    steps = math.ceil(len(data.train_y) / 16)  # config()'s batch_size
    assert batches_before_cancel == [(1, b) for b in range(1, steps + 1)]  # the hook saw all of epoch 1
    assert batches_after_cancel == []  # and not one step was taken after the cancel


@pytest.mark.parametrize("extra", [{}, {"whiten_init": True},
                                   {"ema_epochs": 0.5,
                                    "augment": {"crop": True, "flip": True, "alternate_flip": True}},
                                   {"optimizer": "muon", "conv_init": "dirac", "bn_weights_frozen": True,
                                    "whiten_init": True}],
                         ids=["plain", "whiten_init", "ema_and_alternate_flip", "muon_dirac_frozen_bn"])
def test_resume_continues_the_same_metric_series(data, tmp_path, extra) -> None:
    straight = train(config(epochs=4, **extra), data, checkpoint_dir=tmp_path / "straight", log=None)

    stop = {"now": False}
    first = train(config(epochs=4, **extra), data, checkpoint_dir=tmp_path, log=None,
                  on_epoch=lambda m: stop.update(now=m.epoch == 2),
                  should_stop=lambda: "cancelled" if stop["now"] else None)
    assert [m.epoch for m in first.history] == [1, 2]

    lines: list[str] = []
    resumed = train(config(epochs=4, **extra), data, checkpoint_dir=tmp_path, log=lines.append)
    assert resumed.resumed_from == 2
    assert lines[0].startswith("Resuming from epoch 2")
    assert [m.epoch for m in resumed.history] == [1, 2, 3, 4]
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    ends = [checkpoint.load(folder / checkpoint.LAST) for folder in (tmp_path, tmp_path / "straight")]
    assert ends[0].keys() == ends[1].keys()  # with ema_epochs, the average and the trained weights
    for key in ends[0].keys() & {"model", "train_model"}:
        for name, tensor in ends[0][key].items():
            torch.testing.assert_close(tensor, ends[1][key][name], rtol=0, atol=0, msg=f"{key}.{name}")


def test_weight_average_is_what_the_run_reports_and_keeps(data, tmp_path) -> None:
    """ema_epochs leaves the training alone and evaluates, reports and keeps the average."""
    plain = train(config(epochs=3), data, checkpoint_dir=tmp_path / "plain", log=None)
    averaged = train(config(epochs=3, ema_epochs=1.0), data, checkpoint_dir=tmp_path / "ema", log=None)
    assert [m.train_loss for m in averaged.history] == [m.train_loss for m in plain.history]
    assert [m.test_acc for m in averaged.history] != [m.test_acc for m in plain.history] or \
        [m.test_loss for m in averaged.history] != [m.test_loss for m in plain.history]

    last = checkpoint.load(tmp_path / "ema" / checkpoint.LAST)
    trained = checkpoint.load(tmp_path / "plain" / checkpoint.LAST)["model"]
    assert all(torch.equal(last["train_model"][k], trained[k]) for k in trained)  # the same training
    first_conv = next(k for k in trained if k.endswith("weight") and trained[k].ndim == 4)
    assert not torch.equal(last["model"][first_conv], trained[first_conv])  # the average is another net
    dd = DeviceData(data, torch.device("cpu"), True)
    model = build_model(config().architecture).to(memory_format=dd.memory_format)
    model.load_state_dict(last["model"])
    loss, acc, _ = evaluate(model, dd, 64, bf16=use_bf16(torch.device("cpu"), config().precision))  # as the run did
    assert (averaged.history[-1].test_loss, averaged.history[-1].test_acc) == pytest.approx((loss, acc))
    best = checkpoint.load(tmp_path / "ema" / checkpoint.BEST)
    model.load_state_dict(best["model"])
    assert averaged.evaluation["accuracy"] == pytest.approx(evaluate(model, dd, 64, True)[1])  # the report's views


def test_alternating_flip_shows_each_image_mirrored_on_every_other_epoch(data, monkeypatch) -> None:
    """With crop off, every training input is an image of the set or its mirror: which one, per
    epoch, must be alternating_flips' choice."""
    dd = DeviceData(data, torch.device("cpu"), True)
    images = dd.normalize(dd.train_x)
    index = {}
    for i, image in enumerate(images):
        index[image.numpy().tobytes()] = (i, False)
        index[image.flip(-1).contiguous().numpy().tobytes()] = (i, True)
    seen: dict[int, dict[int, bool]] = {}
    epoch = {"now": 1}

    def record(module, inputs) -> None:
        if module.training:
            for x in inputs[0]:
                i, mirrored = index[x.contiguous().numpy().tobytes()]
                seen.setdefault(epoch["now"], {})[i] = mirrored

    def build_and_watch(arch):
        model = build_model(arch)
        model.register_forward_pre_hook(record)
        return model

    monkeypatch.setattr("worker.trainer.build_model", build_and_watch)
    train(config(epochs=3, seed=4, augment={"flip": True, "alternate_flip": True}), data, log=None,
          on_epoch=lambda m: epoch.update(now=m.epoch + 1))
    n = len(data.train_y)
    for e in (1, 2, 3):
        expected = alternating_flips(n, 4, e)
        assert sorted(seen[e]) == list(range(n))  # every image once per epoch
        assert [seen[e][i] for i in range(n)] == expected.tolist()


def test_checkpoint_round_trip_rebuilds_the_best_model(data, tmp_path) -> None:
    result = train(config(epochs=3), data, checkpoint_dir=tmp_path, log=None)
    best = checkpoint.load(tmp_path / checkpoint.BEST)
    assert best["epoch"] == result.best_epoch
    assert set(best) >= {"model", "optimizer", "epoch", "config", "history"}
    rebuilt_config = TrainConfig.model_validate(best["config"])
    model = build_model(rebuilt_config.architecture)
    model.load_state_dict(best["model"])
    _, acc, _ = evaluate(model, DeviceData(data, torch.device("cpu"), True), 64)
    assert acc == pytest.approx(result.test_acc_at_best)


def test_mismatched_classes_are_refused(data) -> None:
    with pytest.raises(ValueError, match=r"architecture.num_classes: 10 does not match the dataset's 3 classes"):
        train(config(architecture={**TINY_ARCH, "num_classes": 10}), data, log=None)


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "muon"])
def test_every_optimizer_and_schedule_trains(data, schedule, optimizer) -> None:
    lr = 0.05 if optimizer == "sgd" else 0.003
    result = train(config(epochs=2, schedule=schedule, optimizer=optimizer, lr=lr, step_epochs=1,
                          label_smoothing=0.1, tta=True, augment={"crop": True, "cutout": 8}), data, log=None)
    assert len(result.history) == 2
    assert all(m.train_loss == m.train_loss for m in result.history)  # no NaN


def test_seed_style_lines() -> None:
    from worker.trainer import EpochMetrics

    m = EpochMetrics(117, 0.2651, 0.912, 0.5, 0.849, 0.01, 27.2189)
    assert m.seed_line() == "[epoch 117] train accuracy: 91% test accuracy: 85% loss: 0.265 duration: 27.22"
    assert finished_line(54 * 60 + 38) == "Training finished in 00h 54min 38sec"


def test_schedule_by_time_budget_anneals_when_the_budget_ends_first() -> None:
    from worker.schedule import lr_at

    cfg = config(epochs=100, lr=1.0, schedule="onecycle", schedule_by="time_budget", time_budget_s=100)
    # one epoch of 100 done, but 99 % of the time budget spent: nearly annealed
    assert lr_at(cfg, 10, 10, elapsed_s=99) == pytest.approx(0.0125)
    assert lr_at(cfg.model_copy(update={"schedule_by": "epochs"}), 10, 10, elapsed_s=99) > 0.1
    step = config(epochs=10, lr=1.0, schedule="step", step_epochs=3, step_gamma=0.5)
    assert [lr_at(step, e * 10, 10) for e in (0, 2, 3, 6, 9)] == [1.0, 1.0, 0.5, 0.25, 0.125]


def test_finished_run_reports_classes_confusion_and_misclassified_images(data, tmp_path) -> None:
    result = train(config(epochs=2), data, checkpoint_dir=tmp_path, log=None)
    report = result.evaluation
    assert report["epoch"] == result.best_epoch and report["classes"] == data.classes
    confusion = report["confusion"]
    assert sum(map(sum, confusion)) == len(data.test_y)
    assert [sum(row) for row in confusion] == [20, 20, 20]
    assert report["accuracy"] == pytest.approx(result.test_acc_at_best)
    for c, acc in enumerate(report["per_class_acc"]):
        assert acc == pytest.approx(confusion[c][c] / 20)
    wrong = len(data.test_y) - sum(confusion[i][i] for i in range(3))
    assert len(report["misclassified"]) == min(24, wrong)
    for item in report["misclassified"]:
        assert item["true"] != item["pred"] and data.test_y[item["index"]] == item["true"]
        assert base64.b64decode(item["png"]).startswith(b"\x89PNG")


def test_class_report_on_a_hand_made_prediction() -> None:
    from worker.evaluation import class_report

    small = make_arrays(classes=2, train_per_class=1, test_per_class=3)
    predicted = torch.tensor([0, 0, 1, 1, 1, 0])  # truth: 0 0 0 1 1 1
    report = class_report(small, predicted, epoch=7, gallery=1)
    assert report["confusion"] == [[2, 1], [1, 2]]
    assert report["per_class_acc"] == pytest.approx([2 / 3, 2 / 3])
    assert [(m["index"], m["true"], m["pred"]) for m in report["misclassified"]] == [(2, 0, 1)]
    assert report["views"] == "image"  # the default: a prediction on the image alone


def test_views_label_names_what_was_averaged() -> None:
    from worker.evaluation import views_label

    assert [views_label(False, 0), views_label(True, 0), views_label(False, 2), views_label(True, 1)] == [
        "image", "image + mirror", "image + 2-px shifts", "image + mirror + 1-px shifts"]


def test_views_only_in_the_final_evaluation(data, tmp_path) -> None:
    """tta_each_epoch off: the same training, each epoch evaluated on the image alone, the views
    in the final evaluation of the best weights."""
    views = {"tta": True, "tta_shift": 1, "precision": "fp32", "epochs": 3}
    lines: list[str] = []
    final_only = train(config(**views, tta_each_epoch=False), data, checkpoint_dir=tmp_path / "final", log=lines.append)
    every = train(config(**views), data, checkpoint_dir=tmp_path / "every", log=None)
    assert [m.train_loss for m in final_only.history] == [m.train_loss for m in every.history]

    dd = DeviceData(data, torch.device("cpu"), True)
    model = build_model(config().architecture).to(memory_format=dd.memory_format)
    model.load_state_dict(checkpoint.load(tmp_path / "final" / checkpoint.LAST)["model"])
    alone, with_views = evaluate(model, dd, 64), evaluate(model, dd, 64, True, False, 1)
    assert alone[0] != pytest.approx(with_views[0])  # the two evaluations are told apart by their loss
    assert (final_only.history[-1].test_loss, final_only.history[-1].test_acc) == pytest.approx(alone[:2])
    assert (every.history[-1].test_loss, every.history[-1].test_acc) == pytest.approx(with_views[:2])

    model.load_state_dict(checkpoint.load(tmp_path / "final" / checkpoint.BEST)["model"])
    best_with_views = evaluate(model, dd, 64, True, False, 1)
    report = final_only.evaluation
    assert report["epoch"] == final_only.best_epoch and report["views"] == "image + mirror + 1-px shifts"
    assert report["accuracy"] == pytest.approx(best_with_views[1])
    assert every.evaluation["views"] == report["views"] and final_only.final_eval_s > 0
    assert lines[-1] == (f"Final evaluation (image + mirror + 1-px shifts, weights of epoch {report['epoch']}): "
                         f"test accuracy {report['accuracy']:.2%} in {final_only.final_eval_s:.1f} s")


def test_a_diverging_run_stops_without_recording_the_bad_epoch(data) -> None:
    from worker.trainer import DIVERGED

    no_bn = {"stages": [[8]], "num_classes": 3}  # plain family: nothing to tame a learning rate of 100
    result = train(config(architecture=no_bn, epochs=5, lr=100.0, schedule="constant"), data, log=None)
    assert result.stop_reason == DIVERGED
    assert len(result.history) < 5 and all(math.isfinite(m.train_loss) for m in result.history)


def test_shifted_test_time_views_average_as_documented() -> None:
    """Half the mean of (x, mirror), half the mean of the two moved copies (and their mirrors)."""
    torch.manual_seed(0)
    model = build_model(config().architecture).eval()
    x = torch.randn(5, 3, 32, 32)

    def views(v: torch.Tensor, flip: bool) -> torch.Tensor:
        return (model(v) + model(v.flip(-1))) / 2 if flip else model(v)

    def moved(shift: int) -> tuple[torch.Tensor, torch.Tensor]:
        padded = torch.nn.functional.pad(x, (shift,) * 4, mode="reflect")
        return padded[..., :32, :32], padded[..., 2 * shift :, 2 * shift :]

    up_left, down_right = moved(2)  # the content moves down-right / up-left by 2 pixels
    assert torch.equal(up_left[..., 2:, 2:], x[..., :30, :30])
    assert torch.equal(down_right[..., :30, :30], x[..., 2:, 2:])
    with torch.no_grad():
        for flip, shift in [(True, 0), (False, 0), (True, 2), (False, 1)]:
            expected = views(x, flip)
            if shift:
                a, b = moved(shift)
                expected = (expected + (views(a, flip) + views(b, flip)) / 2) / 2
            assert torch.allclose(tta_logits(model, x, flip, shift), expected, atol=1e-5), (flip, shift)


def test_a_run_with_shifted_test_views_and_the_fast_gelu_trains(data) -> None:
    arch = {**TINY_ARCH, "activation": "gelu_tanh", "stem": 4}
    result = train(config(architecture=arch, epochs=6, tta=True, tta_shift=2), data, log=None)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.test_acc_at_best > 0.6  # 3 classes: chance is 1/3


def test_bn_bias_lr_scale_gives_the_batch_norm_parameters_their_own_rate(data, tmp_path) -> None:
    """bn_bias_lr_scale multiplies the learning rate of every batch-norm weight and bias, and only theirs."""
    model = build_model(config().architecture)
    norm = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert norm
    assert len(_optimizer(config(), model).param_groups) == 2  # at 1: the groups of before, so old checkpoints resume
    groups = _optimizer(config(bn_bias_lr_scale=8.0), model).param_groups
    (scaled,) = [g for g in groups if g["lr_scale"] == 8.0]
    assert {id(p) for p in scaled["params"]} == norm and scaled["weight_decay"] == 0.0
    assert all(id(p) not in norm for g in groups if g is not scaled for p in g["params"])

    train(config(epochs=1, bn_bias_lr_scale=8.0, schedule="constant", lr=0.05), data, checkpoint_dir=tmp_path, log=None)
    saved = checkpoint.load(tmp_path / checkpoint.LAST)["optimizer"]["param_groups"]
    assert sorted(g["lr"] for g in saved) == pytest.approx([0.05, 0.05, 0.4])  # the loop applied the scale
