"""What the system-metric sampler (worker.system_metrics) costs a training step.

    python -m benchmarks.sampling_cost [--preset P] [--limit N] [--batch-size B] [--epochs E]
                                       [--segment S] [--interval I] [--device D] [--tiny] [--out F]

One training run through the trainer — preset P (default compact) with the modern 15-minute pilot's
recipe, no validation split, on the first N real CIFAR-10 training images (default 10,000;
benchmarks.common.cifar10_path), E epochs (default 2) — whose steps are timed from the trainer's
batch callback (as the reporter hears them). Its steps are cut into segments of S (default 3),
interleaved A B B A … : in A segments no sampler thread exists (the reference), in B segments a
SystemSampler samples every I seconds (default 0.05 s, 40 times the lab's
CNNLAB_SYSTEM_SAMPLE_INTERVAL_S of 2 s: an upper bound). Interleaving step by step in one process
keeps a shared machine's other work, which comes and goes over seconds, out of the ratio. The
first step of each epoch (it follows the evaluation) and the first two of the run are left out.

Prints the median step time of each and their ratio (with / reference), the cost of one sample
((with − reference) per step over the samples per step) and what that cost is at the lab's rate
(one sample per CNNLAB_SYSTEM_SAMPLE_INTERVAL_S, as a fraction of training time); writes
benchmarks/results/sampling_cost.json (``--out``). ``--tiny``: generated images, seconds, for the
test that keeps the script working.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from backend.core.settings import settings
from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, coloured_noise, machine
from worker.data import ImageDataset, load_dataset
from worker.system_metrics import SystemSampler, gpu_probe

RESULTS = Path(__file__).parent / "results"
WARM_STEPS = 2  # steps left out at the start of the run (allocator, kernel choice)
PATTERN = ("reference_without", "with_sampler", "with_sampler", "reference_without")  # A B B A


def tiny_dataset() -> ImageDataset:
    """Generated: 10 classes, each a colour with noise (benchmarks.common.coloured_noise)."""
    return coloured_noise(640, 64)


class Interleaved:
    """The trainer's batch callback: times each step under the variant of its segment, and starts
    or stops the sampler between segments (outside any timed step)."""

    def __init__(self, config: TrainConfig, segment: int, interval_s: float) -> None:
        self.config, self.segment, self.interval_s = config, segment, interval_s
        self.steps: dict[str, list[float]] = {name: [] for name in dict.fromkeys(PATTERN)}
        self.cpu: dict[str, list[float]] = {name: [] for name in dict.fromkeys(PATTERN)}  # process CPU time
        self.samples = 0
        self.taken = 0
        self.sampler: SystemSampler | None = None
        self.speed: float | None = None
        self.last: float | None = None
        self.last_cpu = 0.0
        self.variant = PATTERN[0]

    def _sink(self, _sample: dict[str, Any]) -> None:
        self.samples += 1

    def __call__(self, epoch: int, done: int, total: int, images: int, epoch_seconds: float) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.speed = images / epoch_seconds if epoch_seconds > 0 else None
        if self.last is not None and done > 1 and self.taken >= WARM_STEPS:
            self.steps[self.variant].append(1000 * (now - self.last))
            self.cpu[self.variant].append(1000 * (cpu - self.last_cpu))
        self.taken += 1
        if self.taken >= WARM_STEPS and (self.taken - WARM_STEPS) % self.segment == 0:
            self._switch(PATTERN[((self.taken - WARM_STEPS) // self.segment) % len(PATTERN)])
        self.last, self.last_cpu = time.perf_counter(), time.process_time()  # the next step starts after the switch

    def _switch(self, variant: str) -> None:
        if variant == self.variant and (self.sampler is not None) == (variant != PATTERN[0]):
            return
        self.variant = variant
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        if variant != PATTERN[0]:
            device = self.config.device if self.config.device != "auto" else None
            self.sampler = SystemSampler(self._sink, device=device, images_per_s=lambda: self.speed,
                                         interval_s=self.interval_s).start()

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None


def one_sample_cost(config: TrainConfig, calls: int = 200) -> float:
    """The CPU time (ms, of the calling thread) one sample takes, as the sampler's thread takes it:
    the median over ``calls`` samples."""
    device = config.device if config.device != "auto" else None
    sampler = SystemSampler(lambda _s: None, device=device, images_per_s=lambda: 1.0)
    sampler.gpu = gpu_probe(device)
    sampler.process.cpu_percent(None)
    times = []
    for _ in range(calls):
        t = time.thread_time()
        sampler.sample()
        times.append(1000 * (time.thread_time() - t))
    sampler.stop()
    return statistics.median(times)


def main() -> None:
    from worker.trainer import train

    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="compact")
    p.add_argument("--limit", type=int, default=10_000, help="training images (real CIFAR-10)")
    p.add_argument("--test-limit", type=int, default=500)
    p.add_argument("--batch-size", type=int, help="default: the recipe's (256)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--segment", type=int, default=3, help="steps per segment of one variant")
    p.add_argument("--interval", type=float, default=0.05, help="the sampler's interval in the B segments (s)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--tiny", action="store_true", help="generated images, one epoch: seconds, for the tests")
    p.add_argument("--out", type=Path, default=RESULTS / "sampling_cost.json")
    args = p.parse_args()
    if args.tiny:
        # segments of 6 steps: a B B pair (one sampler) lasts ~12 steps, several of the sampler's 50 ms
        data, epochs, batch, segment = tiny_dataset(), 1, 16, 6
    else:
        data = load_dataset(str(cifar10_path()), cache_dir="var/cache").limited(args.limit, args.test_limit)
        epochs, batch, segment = args.epochs, args.batch_size, args.segment
    raw = PILOT_15MIN.config(args.preset, epochs=epochs, time_budget_s=3600, device=args.device)
    raw["data"] = {**raw.get("data", {}), "holdout": 0}
    if batch is not None:
        raw["batch_size"] = batch
    config = TrainConfig.model_validate(raw)
    timer = Interleaved(config, segment, args.interval)
    started, cpu_started, load_before = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    try:
        train(config, data, on_batch=timer, log=None)
    finally:
        timer.close()
    steps = timer.steps
    if any(len(v) < 2 for v in steps.values()):
        raise SystemExit(f"too few steps timed ({ {k: len(v) for k, v in steps.items()} }): raise --limit")
    median = {k: statistics.median(v) for k, v in steps.items()}
    cpu_median = {k: statistics.median(v) for k, v in timer.cpu.items()}
    sample_ms = one_sample_cost(config)
    ref, with_ = median["reference_without"], median["with_sampler"]
    with_seconds = sum(steps["with_sampler"]) / 1000
    samples_per_step = timer.samples / len(steps["with_sampler"]) if steps["with_sampler"] else 0.0
    per_sample_ms = (with_ - ref) / samples_per_step if samples_per_step else None
    lab_rate = settings.SYSTEM_SAMPLE_INTERVAL_S
    results = {
        "machine": machine(),
        "tiny": args.tiny,
        "preset": args.preset,
        "device": args.device,
        "train_images": len(data.train_y),
        "batch_size": config.batch_size,
        "epochs": epochs,
        "segment_steps": segment,
        "sampler_interval_s": args.interval,
        "lab_interval_s": lab_rate,
        "steps_timed": {k: len(v) for k, v in steps.items()},
        "samples_taken": timer.samples,
        "samples_per_s_in_with_segments": round(timer.samples / with_seconds, 2) if with_seconds else None,
        "median_step_ms": {k: round(v, 3) for k, v in median.items()},
        "ratio_with_over_reference": round(with_ / ref, 4),
        "cost_per_sample_ms": round(per_sample_ms, 4) if per_sample_ms is not None else None,
        # less swayed by a busy machine: the process's CPU time per step (every thread, the sampler's
        # included), and the CPU time of one sample measured alone
        "median_step_cpu_ms": {k: round(v, 3) for k, v in cpu_median.items()},
        "cpu_ratio_with_over_reference": round(cpu_median["with_sampler"] / cpu_median["reference_without"], 4),
        "one_sample_cpu_ms": round(sample_ms, 4),
        "sampling_cpu_share_at_lab_rate": round(sample_ms / (1000 * lab_rate), 7),
        "overhead_at_lab_rate": round(per_sample_ms / (1000 * lab_rate), 6) if per_sample_ms is not None else None,
        "step_ms": {k: [round(x, 3) for x in v] for k, v in steps.items()},
        "seconds": round(time.perf_counter() - started, 1),
        # how busy the machine was: its 1-minute load average before and after, and the share of the
        # wall time this process had a CPU (1.0: one core throughout)
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_share": round((time.process_time() - cpu_started) / (time.perf_counter() - started), 3),
    }
    print(f"machine: {results['machine']}")
    print(f"  {config.batch_size} images a step, {len(data.train_y)} training images, {epochs} epochs, "
          f"segments of {segment} steps; {results['steps_timed']} steps timed; load average "
          f"{results['load_average']}, this process had {results['cpu_share']:.2f} of a core")
    print(f"  reference (no sampler thread): {ref:.2f} ms/step (median)")
    print(f"  with the sampler every {args.interval:g} s: {with_:.2f} ms/step, {with_ / ref:.3f}x the reference "
          f"({timer.samples} samples)")
    print(f"  CPU time per step (every thread): {cpu_median['reference_without']:.2f} ms without, "
          f"{cpu_median['with_sampler']:.2f} ms with, {results['cpu_ratio_with_over_reference']:.3f}x")
    print(f"  one sample alone: {sample_ms:.3f} ms of CPU; at the lab's rate "
          f"{100 * sample_ms / (1000 * lab_rate):.4f}% of one core")
    if per_sample_ms is not None:
        print(f"  one sample costs about {per_sample_ms:.3f} ms of training; at the lab's rate (one every "
              f"{lab_rate:g} s) that is {100 * per_sample_ms / (1000 * lab_rate):.4f}% of training time")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
