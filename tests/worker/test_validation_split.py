"""The validation split: drawn once per holdout seed, stratified, never trained on, and the only
thing that chooses — the test set cannot steer the best epoch, the checkpoint or early stopping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from worker import checkpoint
from worker.data import DatasetError, ImageDataset, holdout_indices, run_split
from worker.trainer import EARLY_STOPPING, TIME_BUDGET, train

TINY_ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 3}


def config(**overrides) -> TrainConfig:
    base = {"architecture": TINY_ARCH, "epochs": 6, "batch_size": 16, "lr": 0.05, "device": "cpu",
            "augment": {"crop": True, "flip": True}, "data": {"holdout": 30}}
    return TrainConfig.model_validate({**base, **overrides})


@pytest.fixture(scope="module")
def full() -> ImageDataset:
    return make_arrays(classes=3, train_per_class=50, test_per_class=30)


def rows(x: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in x}


def test_the_holdout_is_disjoint_stratified_and_the_same_whatever_the_run_seed(full) -> None:
    a = run_split(full, config(seed=1))
    b = run_split(full, config(seed=2, lr=0.1))
    assert a.holdout == b.holdout and len(a.holdout) == 30  # the same index set: only holdout_seed draws it
    assert a.val_y is not None and np.bincount(a.val_y).tolist() == [10, 10, 10]  # stratified
    assert len(a.train_y) == 150 - 30
    assert not rows(a.val_x) & rows(a.train_x)  # never trained on
    assert rows(a.val_x) | rows(a.train_x) == rows(full.train_x)
    other = run_split(full, config(data={"holdout": 30, "holdout_seed": 5}))
    assert other.holdout != a.holdout


def test_uneven_classes_share_the_holdout_by_their_size() -> None:
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    held = holdout_indices(labels, 10, 0, ["a", "b", "c"])
    assert np.bincount(labels[held], minlength=3).tolist() == [7, 2, 1]
    held = holdout_indices(labels, 11, 0, ["a", "b", "c"])  # 7.7, 2.2, 1.1: the largest remainder gets one more
    assert np.bincount(labels[held], minlength=3).tolist() == [8, 2, 1]


def test_limits_cut_the_training_images_after_the_holdout(full) -> None:
    limited = run_split(full, config(data={"holdout": 30, "train_limit": 60, "test_limit": 20}))
    assert limited.holdout == run_split(full, config()).holdout
    assert len(limited.train_y) == 60 and len(limited.test_y) == 20
    assert not rows(limited.val_x) & rows(limited.train_x)


@pytest.mark.parametrize("count, message", [(150, "must be fewer than the dataset's 150 training images"),
                                            (148, "leave class 'class0' (50 training images) with none to train on")])
def test_a_holdout_too_large_names_the_field_and_the_limit(full, count, message) -> None:
    with pytest.raises(DatasetError, match="data.holdout") as caught:
        run_split(full, config(data={"holdout": count}))
    assert message in str(caught.value)


def permuted_test_labels(data: ImageDataset) -> ImageDataset:
    shuffled = np.random.default_rng(1).permutation(data.test_y)
    assert (shuffled != data.test_y).any()
    return ImageDataset(data.train_x, data.train_y, data.test_x, shuffled, data.classes, data.val_x, data.val_y,
                        data.holdout)


def test_the_test_set_cannot_steer_a_choice(full, tmp_path) -> None:
    # lr 0.5 with a constant schedule: validation accuracy moves up and down, so the chosen epoch is a real choice
    cfg = config(epochs=12, lr=0.5, schedule="constant", early_stopping_patience=3)
    data = run_split(full, cfg)
    honest = train(cfg, data, checkpoint_dir=tmp_path / "a", log=None)
    steered = train(cfg, permuted_test_labels(data), checkpoint_dir=tmp_path / "b", log=None)
    assert honest.selected_on == steered.selected_on == "val"
    assert [m.test_acc for m in honest.history] != [m.test_acc for m in steered.history]  # the test set did change
    assert honest.best_epoch == steered.best_epoch
    assert [m.epoch for m in honest.history] == [m.epoch for m in steered.history]  # the same early stop
    assert honest.stop_reason == steered.stop_reason
    best = [checkpoint.load(tmp_path / name / checkpoint.BEST) for name in ("a", "b")]
    assert best[0]["epoch"] == best[1]["epoch"] == honest.best_epoch
    for name, tensor in best[0]["model"].items():
        torch.testing.assert_close(tensor, best[1]["model"][name], rtol=0, atol=0, msg=name)
    assert honest.evaluation and honest.evaluation["epoch"] == honest.best_epoch  # the class report's weights


def test_early_stopping_and_the_best_epoch_read_validation_accuracy(full, tmp_path) -> None:
    slow = config(epochs=30, lr=1e-9, schedule="constant", early_stopping_patience=2)
    result = train(slow, run_split(full, slow), checkpoint_dir=tmp_path, log=None)
    assert result.stop_reason == EARLY_STOPPING
    vals = [m.val_acc for m in result.history]
    assert all(v is not None for v in vals)
    assert result.best_epoch == vals.index(max(vals)) + 1  # the first epoch of the best validation accuracy
    assert result.history[-1].epoch == result.best_epoch + 2
    assert result.best_val_acc == max(vals)
    assert result.test_acc_at_best == result.history[result.best_epoch - 1].test_acc
    assert result.final_test_acc == result.history[-1].test_acc
    assert checkpoint.load(tmp_path / checkpoint.BEST)["epoch"] == result.best_epoch


def test_a_dataset_not_split_as_its_config_says_is_refused(full) -> None:
    with pytest.raises(ValueError, match=r"data.holdout: the config holds out 30 images but the dataset carries 0"):
        train(config(), full, log=None)


def test_without_a_holdout_the_choice_is_made_on_test_and_says_so(full) -> None:
    result = train(config(epochs=2, data={"holdout": 0}), run_split(full, config(data={"holdout": 0})), log=None)
    assert result.selected_on == "test" and result.holdout == 0
    assert all(m.val_acc is None for m in result.history)
    assert result.chosen_on_words == "the test set (no validation split)"


def test_the_epoch_cut_by_the_time_budget_is_recorded_with_its_fraction(full, tmp_path) -> None:
    ticks = itertools.count()  # one second per clock reading: the budget ends inside an epoch
    lines: list[str] = []
    data = run_split(full, config())
    result = train(config(epochs=50, time_budget_s=47), data, checkpoint_dir=tmp_path,
                   clock=lambda: float(next(ticks)), log=lines.append)
    assert result.stop_reason == TIME_BUDGET
    *whole, last = result.history
    assert all(m.fraction == 1.0 for m in whole)
    assert 0 < last.fraction < 1, [m.fraction for m in result.history]
    assert round(last.fraction * len(data.train_y)) % 16 == 0  # whole batches of 16 were trained
    assert last.val_acc is not None
    assert any("is recorded as the last epoch" in line for line in lines)
    assert checkpoint.load(tmp_path / checkpoint.LAST)["epoch"] == last.epoch
    assert "(partial:" in last.seed_line()


def test_test_each_epoch_off_needs_a_holdout() -> None:
    with pytest.raises(ValueError, match=r"test_each_epoch: .*data.holdout of at least 1"):
        config(test_each_epoch=False, data={"holdout": 0})


@pytest.mark.parametrize("checkpointed", [True, False], ids=["checkpoint folder", "in memory"])
def test_a_run_reading_the_test_set_at_its_end_reads_it_once_after_its_last_epoch(full, tmp_path, monkeypatch,
                                                                                   checkpointed) -> None:
    """Every evaluation the trainer makes is logged with the epochs recorded so far: the test split is
    read exactly once, after the last epoch, with the weights of the epoch chosen on validation."""
    import worker.trainer as trainer

    cfg = config(epochs=6, lr=0.5, schedule="constant", test_each_epoch=False)
    data = run_split(full, cfg)
    recorded: list[int] = []
    reads: list[tuple[str, int]] = []
    real = trainer.evaluate

    def spy(model, dd, batch_size, tta=False, bf16=False, tta_shift=0, split="test"):
        reads.append((split, len(recorded)))
        return real(model, dd, batch_size, tta, bf16, tta_shift, split=split)

    monkeypatch.setattr(trainer, "evaluate", spy)
    result = train(cfg, data, checkpoint_dir=tmp_path if checkpointed else None,
                   on_epoch=lambda m: recorded.append(m.epoch), log=None)
    assert len(result.history) == 6
    assert [s for s, _ in reads].count("val") == 6
    assert [(s, n) for s, n in reads if s == "test"] == [("test", 6)]  # once, after the last epoch
    assert all(m.test_acc is None and m.test_loss is None and m.val_acc is not None for m in result.history)
    assert result.best_test_acc is None and result.final_test_acc is None
    assert result.evaluation is not None and result.evaluation["epoch"] == result.best_epoch
    assert result.test_acc_at_best == result.evaluation["accuracy"]
    # the figure is the chosen epoch's weights on the test set: the same as an every-epoch run's at that epoch
    every = train(config(epochs=6, lr=0.5, schedule="constant"), data, log=None)
    assert every.best_epoch == result.best_epoch
    assert every.chosen is not None and every.chosen.test_acc == pytest.approx(result.test_acc_at_best, abs=1e-6)
    assert "test accuracy" not in result.history[0].seed_line() and "val accuracy" in result.history[0].seed_line()
