"""How the worker processes of one machine share it: each child's share of its GPU's memory and
of the CPU's cores. No torch and no Celery here: worker.serve's parent and the packing benchmark
(benchmarks/gpu_suite.py, which runs where Celery is not installed) both read these."""

from __future__ import annotations

import os

GPU_MEMORY_SHARE = 0.95  # of a GPU's memory its runs' allocators share; the rest: CUDA contexts, fragmentation


def threads_per_child(cores: int, children: int) -> int:
    """Intra-op threads for each of ``children`` processes on ``cores`` cores: an equal share, at least one."""
    return max(1, cores // max(1, children))


def memory_fraction(runs_per_gpu: int) -> float:
    """Each run's share of its GPU's memory when ``runs_per_gpu`` runs train on it at once."""
    return round(GPU_MEMORY_SHARE / max(1, runs_per_gpu), 4)


def cpu_cores() -> int:
    """The cores this process may run on (its affinity: a container's CPU set), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
