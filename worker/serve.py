"""`python -m worker.serve` — the workers of one machine, one command everywhere.

One Celery worker process per (GPU, slot), each pinned to its GPU by its own
``CUDA_VISIBLE_DEVICES`` and taking one run at a time (solo pool; acks_late and prefetch 1, as
backend.core.queue sets them), so an 8-GPU machine trains on all eight and a GPU trains several tiny
runs at once:

- ``CNNLAB_WORKER_GPUS``: ``all`` (the default: every GPU the machine reports; none → the CPU),
  a comma list of device indices (``0,2,3``), or empty for the CPU alone.
- ``CNNLAB_RUNS_PER_GPU``: runs each GPU trains at once (default 2; see the README's lab section).
- ``CNNLAB_WORKER_PROCESSES``: runs the CPU trains at once when no GPU is used (default 1).

The children share the machine well: each keeps to its share of its GPU's memory
(``CNNLAB_GPU_MEMORY_FRACTION`` = worker.sharing.GPU_MEMORY_SHARE / runs per GPU, which
worker.device.prepare_device applies, so a large-batch run cannot push a neighbour out of
memory), starts cores / children intra-op threads (``OMP_NUM_THREADS``: one per core each would
oversubscribe the CPU), and counts GPUs in PCI bus order (``CUDA_DEVICE_ORDER=PCI_BUS_ID``), as
nvidia-smi does, so GPU indices and device labels match what nvidia-smi shows.

``--plan`` prints the processes it would start, as JSON, and exits. Every slot, a laptop's one CPU
slot included, is a child process of this one: a child that dies (killed, out of memory, a lost
device) is restarted with a growing pause while the others train on; its run resumes from its last
checkpoint (the backend's reaper requeues it). When this process dies, its children are killed
with it (as kill -9 of one worker process always did), so none trains on unsupervised.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from backend.core.settings import settings
from worker.celery_app import app
from worker.sharing import cpu_cores, memory_fraction, threads_per_child

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STEADY_S = 60.0  # a child that ran this long starts its pauses over


class PlanError(ValueError):
    """A setting that names no usable process: the message names the variable."""


@dataclass(frozen=True)
class Slot:
    """One worker process: the GPU it trains on (its physical index; None: the CPU) and its slot."""

    gpu: int | None
    slot: int
    device: str = ""  # what the child's CUDA_VISIBLE_DEVICES names: the host's own id of the GPU
    threads: int = 0  # the child's intra-op threads (OMP_NUM_THREADS; 0: torch's default, one per core)
    memory_fraction: float | None = None  # the child's share of its GPU's memory (None: all of it)

    @property
    def name(self) -> str:
        return f"gpu{self.gpu}-{self.slot}" if self.gpu is not None else f"cpu-{self.slot}"

    def env(self) -> dict[str, str]:
        """What the child's environment adds: its one visible GPU (none for a CPU slot)."""
        device = "" if self.gpu is None else (self.device or str(self.gpu))
        env = {"CUDA_VISIBLE_DEVICES": device, "CNNLAB_GPU_INDEX": device, "CNNLAB_WORKER_SLOT": self.name,
               "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        if self.memory_fraction is not None:
            env["CNNLAB_GPU_MEMORY_FRACTION"] = f"{self.memory_fraction:g}"
        return env

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "gpu": self.gpu, "slot": self.slot, "env": self.env()}


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PlanError(f"{name}: {text!r} is not a whole number") from None
    if value < 1:
        raise PlanError(f"{name}: must be at least 1, got {value}")
    return value


def plan(gpus: str, runs_per_gpu: str, cpu_processes: str, device_count: int,
         visible: Sequence[str] = (), cores: int | None = None) -> list[Slot]:
    """The processes for these settings on a machine that reports ``device_count`` GPUs. Indices
    count the GPUs this process sees; where the host already narrowed them (its own
    ``CUDA_VISIBLE_DEVICES``: ``visible``), each child is pinned to the host's id of its GPU. Each
    child gets ``cores`` (default: this machine's) / children threads, and a GPU child its share
    of its GPU's memory (worker.sharing)."""
    cores = cores if cores is not None else cpu_cores()
    per_gpu = _positive("CNNLAB_RUNS_PER_GPU", runs_per_gpu)
    text = gpus.strip().lower()
    if text == "all":
        indices = list(range(device_count))
    elif text == "":
        indices = []
    else:
        indices = []
        for part in text.split(","):
            try:
                index = int(part)
            except ValueError:
                raise PlanError(f"CNNLAB_WORKER_GPUS: {part.strip()!r} is not a device index "
                                "(give 'all', a comma list like '0,2', or nothing for the CPU)") from None
            if not 0 <= index < device_count:
                raise PlanError(f"CNNLAB_WORKER_GPUS: GPU {index} is not on this machine, which reports "
                                f"{device_count} GPU(s)")
            if index in indices:
                raise PlanError(f"CNNLAB_WORKER_GPUS: GPU {index} is named twice")
            indices.append(index)
    if indices:
        threads, fraction = threads_per_child(cores, len(indices) * per_gpu), memory_fraction(per_gpu)
        return [Slot(gpu, slot, visible[gpu] if gpu < len(visible) else "", threads, fraction)
                for gpu in indices for slot in range(1, per_gpu + 1)]
    count = _positive("CNNLAB_WORKER_PROCESSES", cpu_processes)
    return [Slot(None, slot, threads=threads_per_child(cores, count)) for slot in range(1, count + 1)]


def gpu_count() -> int:
    """GPUs this machine reports (torch asks the driver; no CUDA context is made here)."""
    import torch  # only the parent asks, once; torch is slow to import and the --child path needs none of it

    return torch.cuda.device_count()


def plan_from_env(device_count: int | None = None) -> list[Slot]:
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # before torch counts the GPUs: nvidia-smi's order
    gpus = os.environ.get("CNNLAB_WORKER_GPUS", "all")
    count = device_count if device_count is not None else (gpu_count() if gpus.strip() else 0)
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return plan(gpus, os.environ.get("CNNLAB_RUNS_PER_GPU", "2"), os.environ.get("CNNLAB_WORKER_PROCESSES", "1"),
                count, visible)


def celery_argv(name: str) -> list[str]:
    """One run at a time, and one message reserved at a time (prefetch = concurrency x 1): without
    --concurrency Celery counts the CPUs, and a slot reserved a second run it could not start."""
    return ["worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO", "-Q", settings.QUEUE,
            "-n", f"{name}@{socket.gethostname()}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]


def _die_with_parent() -> None:
    """In a child, before exec: the kernel kills it when the supervising parent dies, so a killed
    parent never leaves children training on their own (Linux; elsewhere a no-op). SIGKILL, not
    SIGTERM: Celery's warm shutdown on SIGTERM would finish the run in hand first, heartbeating,
    while the restarted supervisor's new child waits."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Children:
    """The machine's worker processes, each restarted when it dies, with a growing pause."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.failures = dict.fromkeys((s.name for s in slots), 0)
        self.restart_at: dict[str, float] = {}
        for slot in self.slots:
            self.start(slot)

    def command(self, slot: Slot) -> list[str]:
        return [sys.executable, "-m", "worker.serve", "--child", slot.name]

    def start(self, slot: Slot) -> None:
        env = {**os.environ, **slot.env()}
        self.procs[slot.name] = subprocess.Popen(self.command(slot), env=env, preexec_fn=_die_with_parent)
        self.started[slot.name] = time.monotonic()
        self.restart_at.pop(slot.name, None)
        print(f"cnnlab worker: {slot.name} started (pid {self.procs[slot.name].pid})", flush=True)

    def tick(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            proc = self.procs[slot.name]
            if proc.poll() is None:
                continue
            if slot.name not in self.restart_at:
                if now - self.started[slot.name] > STEADY_S:
                    self.failures[slot.name] = 0
                pause = BACKOFF_S[min(self.failures[slot.name], len(BACKOFF_S) - 1)]
                self.failures[slot.name] += 1
                self.restart_at[slot.name] = now + pause
                print(f"cnnlab worker: {slot.name} stopped (exit {proc.returncode}); restarting in {pause:.0f} s",
                      file=sys.stderr, flush=True)
            elif now >= self.restart_at[slot.name]:
                self.start(slot)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_worker(name: str) -> int:
    """One slot's Celery worker in this process, until it stops; then this process ends (its
    supervisor restarts it) — it must never go on to start workers of its own."""
    app.worker_main(celery_argv(name))
    return 0  # type: ignore[unreachable]  # celery-types says worker_main never returns; Celery 5.7's does


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m worker.serve", description=__doc__.split("\n")[0])
    p.add_argument("--plan", action="store_true", help="print the processes it would start, as JSON, and exit")
    p.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)  # one slot's Celery worker
    args = p.parse_args(argv)
    if args.child:
        return run_worker(args.child)
    try:
        slots = plan_from_env()
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.plan:
        print(json.dumps([s.to_dict() for s in slots], indent=2))
        return 0
    children = Children(slots)  # one slot too: a worker in this process would have no one to restart it
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            children.tick()
            time.sleep(0.5)
    finally:
        children.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
