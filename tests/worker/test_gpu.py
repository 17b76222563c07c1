"""GPU readiness (issue 31). On any machine: each epoch's augmentation draws made at its start are
the very numbers the per-batch draws were (so a run trains as before, on the CPU and on a GPU),
checkpoints at most every N seconds (always at the end and on a cancel), the share of a GPU and of
the cores each worker child gets, the data statistics without a float64 copy, and the captured
step left off on the CPU.

Marked ``gpu``, on a CUDA device: the same numbers as on the CPU within tolerance, a CUDA
checkpoint resumed on the CPU, a real out-of-memory error classified as such, and no host sync
inside an epoch. Where there is no CUDA device these are skipped with that reason, and in CI
(CI=true) they are deselected instead (tests/conftest.py): the house's one exception to "a skip
fails in CI", since CI never has a GPU. benchmarks/device_check.py runs them on a lent GPU.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch

from backend.training.config import TrainConfig
from tests.utils.datasets import make_arrays
from worker import checkpoint, device, trainer
from worker.augment import epoch_draws
from worker.device import broken_by, channel_statistics, memory_fraction_from_env
from worker.sharing import memory_fraction, threads_per_child
from worker.trainer import checkpoint_due, train

TINY_ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 3}


@pytest.fixture(scope="module")
def data():
    return make_arrays(classes=3, train_per_class=64, test_per_class=20)


def config(device: str, **overrides) -> TrainConfig:
    base = {"architecture": TINY_ARCH, "epochs": 3, "batch_size": 32, "lr": 0.05, "device": device,
            "precision": "fp32", "augment": {"crop": True, "flip": True, "cutout": 8}, "data": {"holdout": 0}}
    return TrainConfig.model_validate({**base, **overrides})


def without_seconds(history) -> list[dict]:
    return [{k: v for k, v in asdict(m).items() if k != "seconds"} for m in history]


# --- on any machine -----------------------------------------------------------------------------

def test_an_epochs_draws_are_the_per_batch_draws_of_before() -> None:
    """epoch_draws makes, at the epoch's start, exactly the calls random_crop, random_flip and
    cutout made batch after batch from the same generator."""
    sizes = [32] * 6 + [7]
    gen = torch.Generator().manual_seed(3)
    order = torch.randperm(199, generator=gen)
    draws = epoch_draws(order, sizes, gen, padding=4, flip=True, cutout_hw=(32, 28), device=torch.device("cpu"))
    ref = torch.Generator().manual_seed(3)
    assert torch.equal(torch.randperm(199, generator=ref), draws.table[0])
    start = 0
    for size in sizes:  # the order of the per-batch functions' draws
        expected = {"dy": torch.randint(0, 9, (size,), generator=ref),
                    "dx": torch.randint(0, 9, (size,), generator=ref),
                    "flip": (torch.rand(size, generator=ref) < 0.5).long(),
                    "cy": torch.randint(0, 32, (size,), generator=ref),
                    "cx": torch.randint(0, 28, (size,), generator=ref)}
        for name, values in expected.items():
            assert torch.equal(draws.row(name, start, start + size), values), (name, start)
        start += size
    after = torch.Generator().manual_seed(0).set_state(gen.get_state())
    assert torch.equal(torch.rand(3, generator=after), torch.rand(3, generator=ref))  # the same draws used up


@pytest.mark.parametrize(("extra", "images"), [
    ({"augment": {"crop": True, "flip": True, "cutout": 8}}, 120),
    ({"augment": {"crop": True, "flip": True, "alternate_flip": True}, "ema_epochs": 0.5}, 120),
    ({"augment": {"flip": True}}, 97),  # 97 = 3 x 32 + 1: the last batch of one is skipped
    ({"augment": {}}, 120),
], ids=["crop_flip_cutout", "alternate_flip_ema", "batch_of_one_dropped", "no_augmentation"])
def test_a_run_trains_as_it_did_with_per_batch_draws(monkeypatch, extra, images) -> None:
    """The same seed gives the same numbers and weights as the loop that drew batch by batch (the
    reference, PER_EPOCH_DRAWS = False), so runs, resumes and studies of before stay comparable."""
    small = make_arrays(classes=3, train_per_class=40, test_per_class=10)
    small = small.limited(images, None)
    runs = []
    for per_epoch in (True, False):
        monkeypatch.setattr(trainer, "PER_EPOCH_DRAWS", per_epoch)
        runs.append(train(config("cpu", epochs=2, **extra), small, log=None))
    assert without_seconds(runs[0].history) == without_seconds(runs[1].history)


def test_the_captured_step_is_left_off_on_the_cpu() -> None:
    small = make_arrays(classes=3, train_per_class=20, test_per_class=10)
    runs = [train(config("cpu", epochs=2, compile_step=on), small, log=None) for on in (False, True)]
    assert without_seconds(runs[0].history) == without_seconds(runs[1].history)
    assert TrainConfig.model_fields["compile_step"].default is False


def test_checkpoint_due_every_epoch_or_after_the_interval() -> None:
    assert checkpoint_due(now=0.5, last_written=0.0, every_s=0.0)  # no interval: every epoch
    assert not checkpoint_due(now=29.9, last_written=0.0, every_s=30.0)
    assert checkpoint_due(now=30.0, last_written=0.0, every_s=30.0)


def test_checkpoints_at_most_every_n_seconds_always_at_the_end(data, tmp_path) -> None:
    ticks = itertools.count()  # a fake clock: one second per reading
    written: list[tuple[int, bool]] = []
    result = train(config("cpu", epochs=6), data, checkpoint_dir=tmp_path, clock=lambda: float(next(ticks)),
                   checkpoint_every_s=1e6, on_checkpoint=lambda folder, epoch, best: written.append((epoch, best)),
                   log=None)
    assert written == [(6, True)]  # once, after the last epoch, with the best epoch's weights
    assert checkpoint.load(tmp_path / checkpoint.LAST)["epoch"] == 6
    best = checkpoint.load(tmp_path / checkpoint.BEST)
    assert best["epoch"] == result.best_epoch and result.evaluation["epoch"] == result.best_epoch
    every = itertools.count()
    written.clear()
    train(config("cpu", epochs=4), data, checkpoint_dir=tmp_path / "often", clock=lambda: float(next(every)),
          checkpoint_every_s=0.0, on_checkpoint=lambda folder, epoch, best: written.append((epoch, best)), log=None)
    assert [epoch for epoch, _ in written] == [1, 2, 3, 4]


def test_a_cancel_between_checkpoints_writes_the_last_epoch_and_resumes_exactly(data, tmp_path) -> None:
    straight = train(config("cpu", epochs=4), data, log=None)
    stop = {"now": False}

    def on_batch(epoch: int, done: int, total: int, images: int, seconds: float) -> None:
        stop["now"] = epoch == 3 and done == 2  # inside epoch 3: its partial training is dropped

    first = train(config("cpu", epochs=4), data, checkpoint_dir=tmp_path, checkpoint_every_s=1e6, log=None,
                  on_batch=on_batch, should_stop=lambda: "cancelled" if stop["now"] else None)
    assert first.stop_reason == "cancelled" and [m.epoch for m in first.history] == [1, 2]
    assert checkpoint.load(tmp_path / checkpoint.LAST)["epoch"] == 2  # the epoch held back, written on the cancel
    resumed = train(config("cpu", epochs=4), data, checkpoint_dir=tmp_path, log=None)
    assert resumed.resumed_from == 2
    assert without_seconds(resumed.history) == without_seconds(straight.history)


def test_each_worker_child_gets_its_share_of_the_gpu_and_of_the_cores() -> None:
    from worker import serve  # Celery: not on the device machine, where only the gpu tests run

    assert threads_per_child(16, 8) == 2 and threads_per_child(16, 3) == 5 and threads_per_child(2, 4) == 1
    assert memory_fraction(1) == 0.95 and memory_fraction(4) == 0.2375
    slots = serve.plan("all", "4", "1", device_count=2, cores=16)
    assert len(slots) == 8
    for slot in slots:
        env = slot.env()
        assert env["OMP_NUM_THREADS"] == "2" and env["CNNLAB_GPU_MEMORY_FRACTION"] == "0.2375"
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    cpu = serve.plan("", "4", "3", device_count=2, cores=16)
    assert [s.env()["OMP_NUM_THREADS"] for s in cpu] == ["5", "5", "5"]
    assert all("CNNLAB_GPU_MEMORY_FRACTION" not in s.env() for s in cpu)


def test_the_memory_fraction_setting_is_read_and_checked(monkeypatch) -> None:
    monkeypatch.delenv("CNNLAB_GPU_MEMORY_FRACTION", raising=False)
    assert memory_fraction_from_env() is None
    monkeypatch.setenv("CNNLAB_GPU_MEMORY_FRACTION", "0.2375")
    assert memory_fraction_from_env() == 0.2375
    for bad in ("half", "0", "1.5"):
        monkeypatch.setenv("CNNLAB_GPU_MEMORY_FRACTION", bad)
        with pytest.raises(RuntimeError, match="CNNLAB_GPU_MEMORY_FRACTION"):
            memory_fraction_from_env()


def test_data_statistics_match_numpys_without_a_float64_copy(monkeypatch) -> None:
    monkeypatch.setattr(device, "STATISTICS_CHUNK", 7)  # several chunks and a short last one
    images = np.random.default_rng(1).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    mean, std = channel_statistics(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
    flat = images.reshape(-1, 3)
    np.testing.assert_array_equal(np.float32(mean), flat.mean(0).astype(np.float32))
    np.testing.assert_allclose(std, flat.std(0), rtol=1e-12)
    assert channel_statistics(torch.zeros((0, 3, 8, 8), dtype=torch.uint8)) == ([0.0] * 3, [1.0] * 3)


# --- on a CUDA device ---------------------------------------------------------------------------

@pytest.mark.gpu
def test_cuda_and_cpu_train_the_same_run_within_tolerance(data) -> None:
    torch.backends.cudnn.deterministic = True  # the kernels' own order still differs from the CPU's
    try:
        cpu = train(config("cpu"), data, log=None)
        cuda = train(config("cuda"), data, log=None)
    finally:
        torch.backends.cudnn.deterministic = False
    assert cuda.device.startswith("cuda") and cpu.device.startswith("cpu")
    for a, b in zip(cpu.history, cuda.history, strict=True):  # TF32 and reordered sums: close, not equal
        assert b.train_loss == pytest.approx(a.train_loss, rel=0.05)
        assert b.test_loss == pytest.approx(a.test_loss, rel=0.1)
        assert abs(b.test_acc - a.test_acc) <= 0.1


@pytest.mark.gpu
def test_cuda_and_cpu_draw_the_same_augmentation() -> None:
    sizes = [32] * 6 + [7]
    tables = []
    for where in ("cpu", "cuda"):
        gen = torch.Generator().manual_seed(11)
        draws = epoch_draws(torch.randperm(199, generator=gen), sizes, gen, padding=4, flip=True,
                            cutout_hw=(32, 32), device=torch.device(where))
        tables.append(draws.table.cpu())
    assert torch.equal(tables[0], tables[1])


@pytest.mark.gpu
def test_a_cuda_checkpoint_resumes_on_the_cpu(data, tmp_path) -> None:
    first = train(config("cuda", epochs=2), data, checkpoint_dir=tmp_path, log=None)
    resumed = train(config("cpu", epochs=4), data, checkpoint_dir=tmp_path, log=None)
    assert first.history[-1].epoch == 2 and resumed.resumed_from == 2
    assert [m.epoch for m in resumed.history] == [1, 2, 3, 4] and resumed.device.startswith("cpu")
    assert resumed.history[-1].train_loss < resumed.history[0].train_loss


@pytest.mark.gpu
def test_a_real_out_of_memory_error_is_classified_as_one() -> None:
    total = torch.cuda.get_device_properties(0).total_memory
    with pytest.raises(torch.cuda.OutOfMemoryError) as caught:
        torch.empty(2 * total, dtype=torch.uint8, device="cuda")  # a plain allocation, refused
    assert broken_by(caught.value) is False  # the run fails; the process trains on
    assert torch.ones(4, device="cuda").sum().item() == 4.0  # and the device still works


@pytest.mark.gpu
def test_no_host_sync_inside_an_epoch(data) -> None:
    """torch.cuda.set_sync_debug_mode warns at every host sync; from the end of an epoch's first step
    to the end of its last (its evaluation after: that reads the results), there must be none."""
    syncs: list[int] = []
    cfg = config("cuda", epochs=2, batch_size=16, ema_epochs=1.0,
                 augment={"crop": True, "flip": True, "alternate_flip": True, "cutout": 8})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened: list[int] = []

        def watch(epoch: int, done: int, total: int, images: int, seconds: float) -> None:
            if done == 1:
                torch.cuda.set_sync_debug_mode("warn")
                opened.append(len(caught))
            elif done == total:
                torch.cuda.set_sync_debug_mode(0)
                syncs.append(sum("synchroniz" in str(w.message) for w in caught[opened[-1]:]))

        try:
            train(cfg, data, log=None, on_batch=watch)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    steps = len(data.train_y) // 16 - 1
    print(f"host syncs in steps 2..{steps + 1} of each epoch: {syncs}")
    assert syncs == [0, 0]
