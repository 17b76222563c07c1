"""Shared bits of the benchmarks: the machine they ran on, and where the real CIFAR-10 lies."""

from __future__ import annotations

import os
import platform
from pathlib import Path

SHARED_CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"


def cifar10_path() -> Path:
    path = Path(os.environ.get("CNNLAB_BENCH_CIFAR10", SHARED_CIFAR10))
    if not path.exists():
        raise SystemExit(f"{path}: the real CIFAR-10 tarball is needed (set CNNLAB_BENCH_CIFAR10)")
    return path


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads"
