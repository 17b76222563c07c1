"""Where a run trains and in what precision: the device choice, bf16 autocast where it pays, and
the dataset on the device as uint8 tensors normalised per batch."""

from __future__ import annotations

import functools
import math
import os
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch

from worker.data import ImageDataset


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: 'cuda' was asked for but no CUDA device is available")
        return torch.device("cuda")
    return torch.device("cpu")


class DeviceData:
    """The dataset on the device as uint8 NCHW tensors, normalised per batch."""

    def __init__(self, data: ImageDataset, device: torch.device, channels_last: bool) -> None:
        def to_tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device, non_blocking=True)

        self.train_x, self.test_x = to_tensor(data.train_x), to_tensor(data.test_x)
        self.train_y = torch.from_numpy(data.train_y).to(device)
        self.test_y = torch.from_numpy(data.test_y).to(device)
        # the validation split (empty without a holdout): training images, normalised like the rest
        val_x = data.val_x if data.val_x is not None else data.train_x[:0]
        val_y = data.val_y if data.val_y is not None else data.train_y[:0]
        self.val_x, self.val_y = to_tensor(val_x), torch.from_numpy(val_y).to(device)
        mean, std = channel_statistics(self.train_x)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([max(v, 1e-3) for v in std], dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float() - self.mean) / self.std).contiguous(memory_format=self.memory_format)


STATISTICS_CHUNK = 4096  # images per step of channel_statistics: a few MB of int32 at a time, never the whole set


def channel_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation of uint8 NCHW ``images``, where they
    lie (on the GPU for a CUDA run): exact integer sums over chunks, no float64 copy of the dataset
    (numpy's ``x.mean(0)`` made a 1.2 GB temporary for CIFAR-10), the same values to float32.
    (0, 1) per channel for no images."""
    n = images.shape[0]
    if n == 0:
        return [0.0] * images.shape[1], [1.0] * images.shape[1]
    s1 = torch.zeros(images.shape[1], dtype=torch.int64, device=images.device)
    s2 = torch.zeros_like(s1)
    for start in range(0, n, STATISTICS_CHUNK):
        chunk = images[start:start + STATISTICS_CHUNK].to(torch.int32)
        s1 += chunk.sum(dim=(0, 2, 3), dtype=torch.int64)
        s2 += (chunk * chunk).sum(dim=(0, 2, 3), dtype=torch.int64)
    count = n * images.shape[2] * images.shape[3]
    sums, squares = s1.tolist(), s2.tolist()  # exact integers: the variance below is too, until its division
    mean = [s / count for s in sums]
    std = [math.sqrt((count * q - s * s) / count**2) for s, q in zip(sums, squares, strict=True)]
    return mean, std


def prepare_device(device: torch.device, bf16: bool) -> None:
    """What a run sets up on its device before training. On CUDA: cuDNN picks its fastest kernels
    for the (fixed) batch shapes, fp32 runs may use TF32 tensor cores, and the process keeps to its
    share of the GPU's memory when worker.serve packs several runs on one GPU
    (``CNNLAB_GPU_MEMORY_FRACTION``, set per child from ``CNNLAB_RUNS_PER_GPU``). Nothing on the CPU."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    if not bf16:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    fraction = memory_fraction_from_env()
    if fraction is not None:
        torch.cuda.set_per_process_memory_fraction(fraction, device)


def memory_fraction_from_env() -> float | None:
    """This process's share of its GPU's memory, from ``CNNLAB_GPU_MEMORY_FRACTION`` (None: unset, the whole GPU)."""
    text = os.environ.get("CNNLAB_GPU_MEMORY_FRACTION", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RuntimeError(f"CNNLAB_GPU_MEMORY_FRACTION: {text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise RuntimeError(f"CNNLAB_GPU_MEMORY_FRACTION: must be in (0, 1], got {value}")
    return value


@functools.cache
def cpu_has_native_bf16() -> bool:
    """bf16 autocast halves a training step on CPUs with bf16 instructions and slows others down."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(device: torch.device, precision: str) -> bool:
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or cpu_has_native_bf16()


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager[None]:
    """bf16 autocast on the device when enabled; weights, optimizer and loss stay float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def device_label(choice: str) -> str:
    """The device a run trains on, as its run page shows it: 'cpu' or 'cuda:INDEX (GPU name)'."""
    try:
        device = pick_device(choice)
    except RuntimeError:
        return "unavailable"
    if device.type == "cuda":
        # the machine's own index of the GPU: worker.serve pins each child to one (CUDA_VISIBLE_DEVICES),
        # which the child then sees as cuda:0
        index = os.environ.get("CNNLAB_GPU_INDEX") or str(torch.cuda.current_device())
        return f"cuda:{index} ({torch.cuda.get_device_name(device)})"[:64]
    return "cpu"


def broken_by(exc: BaseException) -> bool:
    """Whether ``exc`` leaves this process's GPU unusable (a lost device, an illegal access, a failed
    kernel: CUDA keeps the error for the whole process), so the process must start afresh. Out of
    memory is not: the run fails, its memory is given back, the next run trains."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return False
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("CUDA error" in text or "CUDA driver error" in text
                                             or "device-side assert" in text)
