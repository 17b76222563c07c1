"""The GPU benchmark's parts, each under a time cap; benchmarks/device_check.py runs them on a lent
GPU, one part per process, in one command. Alone:

    python -m benchmarks.gpu_suite --out benchmarks/results/gpu_suite.json             # every part, ~8 min
    python -m benchmarks.gpu_suite --device cpu --tiny --out /tmp/tiny.json            # seconds: the script works
    python -m benchmarks.gpu_suite --part packing --budget 150 --data var/device/cifar10.npz --out p.json

1. ``seed_run``: the seed's run — wide_deep, crop + flip, 120 epochs — at the trainer's default batch
   (goal: under 60 s on an H100-class GPU; the seed took 54 minutes), and one epoch at the seed's
   batch 16 with its extrapolation to 120 epochs;
2. ``captured_step``: the same run with the captured step (``compile_step``: torch.compile, CUDA
   graphs) against without, seconds per epoch after the first — the measurement that decides the
   option's default (ignored on the CPU, where the two are the same run);
3. ``packing``: aggregate trained images per second of 1, 2, 4 and 8 runs sharing the device, each
   its own process as worker.serve starts them (its share of the GPU's memory and of the cores),
   each training under a time cap (not a fixed number of epochs), counted over the window in which
   all of them train, after a warm-up; ``max_memory_reserved`` per run. Goal: 4 runs at >= 3x one;
4. ``time_to_93``: time to 93% test accuracy with the best <= 256k preset and the modern recipe, or
   the best reached within the time left;
5. ``search``: the shipped GPU search (``gpu_wide``) by time rungs, its trials packed on the GPU as a
   lab's lent worker packs them (benchmarks/gpu_search.py): runs per GPU-hour at each rung, how busy
   the slots were, the best configuration chosen on validation and its test accuracy read once. A
   budget shorter than the preset's plan shrinks the search (two waves of trials, rungs scaled).

The dataset: ``--data`` names a file benchmarks/stage_device.py staged (the device machine has no
``../shared``), else the real CIFAR-10 tarball (benchmarks.common.cifar10_path); ``--tiny`` uses
generated data and a few batches, for the test suite and for trying the script without a GPU.
Every part's caps derive from ``--budget`` (the whole run's, or the one part's with ``--part``);
the JSON is written after each part, so a crash keeps what came before.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.core.statuses import StopReason
from backend.training.config import TrainConfig
from backend.training.recipes import MODERN, SEED_AUGMENTED
from benchmarks.common import cifar10_path, coloured_noise, machine
from worker.data import ImageDataset, load_dataset
from worker.sharing import cpu_cores, memory_fraction, threads_per_child
from worker.trainer import train

SEED_EPOCHS = 120
SEED_MINUTES = 54 + 38 / 60
PACKING = (1, 2, 4, 8)
BEST_PRESET = "resnet20"  # the best <= 256k preset of benchmarks/RESULTS.md's hour on the CPU (89.3%)
PARTS = ("seed_run", "captured_step", "packing", "time_to_93", "search")
# each part's share of the budget when the suite runs them all (the last one gets what is left)
SHARES = {"seed_run": 0.24, "captured_step": 0.13, "packing": 0.28, "time_to_93": 0.15, "search": 0.2}
WARM_FRACTION = 0.2  # of a packed run's cap: the first part of the common window, left out (kernel choice, warm-up)


def tiny_dataset() -> ImageDataset:
    """Generated: 10 classes, each a colour with noise (benchmarks.common.coloured_noise)."""
    return coloured_noise(256, 128)


def dataset(tiny: bool, staged: Path | None = None) -> ImageDataset:
    if staged is not None:
        from benchmarks.stage_device import load_staged_cached

        return load_staged_cached(staged)
    if tiny:
        return tiny_dataset()
    return load_dataset(str(cifar10_path()), cache_dir="var/cache")


def device_line(device: str) -> dict[str, Any]:
    line: dict[str, Any] = {"machine": machine(), "torch": torch.__version__, "cuda": torch.version.cuda,
                            "cores": cpu_cores()}
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        line.update(gpu=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count)
        try:
            line["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            line["driver"] = None
    return line


def config(raw: dict[str, Any], device: str, **overrides: Any) -> TrainConfig:
    # speed and time-to-accuracy figures, comparable with earlier rounds: the whole training set, no validation split
    data = {**(raw.get("data") or {}), "holdout": 0}
    return TrainConfig.model_validate({**raw, "device": device, "data": data, **overrides})


def seed_run(data: ImageDataset, device: str, tiny: bool, cap_s: float) -> dict[str, Any]:
    """The seed's wide_deep + crop/flip, at the trainer's default batch and at the seed's batch 16."""
    epochs = 2 if tiny else SEED_EPOCHS
    fast = train(config(SEED_AUGMENTED.config("wide_deep"), device, epochs=epochs, batch_size=256,
                        time_budget_s=max(0.75 * cap_s, 0.1)), data, log=None)
    done = len(fast.history)
    seconds = sum(m.seconds for m in fast.history)
    whole = sum(m.fraction for m in fast.history)  # a last epoch cut by the cap counts its fraction
    one = train(config(SEED_AUGMENTED.config("wide_deep"), device, epochs=1, batch_size=16,
                       time_budget_s=max(0.2 * cap_s, 0.1)), data, log=None)
    epoch16 = one.history[0].seconds / one.history[0].fraction if one.history else None
    return {
        "batch_size": 256, "epochs_planned": epochs, "epochs_done": done, "seconds": round(seconds, 2),
        "seconds_for_120_epochs": round(seconds / whole * SEED_EPOCHS, 1) if whole else None,
        "best_test_acc": fast.best_test_acc, "stop_reason": fast.stop_reason,
        "goal_s": 60.0, "seed_minutes": round(SEED_MINUTES, 1),
        "batch16_epoch_fraction_done": one.history[0].fraction if one.history else None,
        "batch16_one_epoch_s": round(epoch16, 2) if epoch16 else None,
        "batch16_120_epochs_extrapolated_s": round(epoch16 * SEED_EPOCHS, 1) if epoch16 else None,
    }


def captured_step(data: ImageDataset, device: str, tiny: bool, cap_s: float) -> dict[str, Any]:
    """The seed run with and without the captured step: seconds per epoch after the first (compilation:
    the captured run gets two thirds of the cap)."""
    out: dict[str, Any] = {"applies": device == "cuda"}
    for name, on, share in (("eager", False, 0.3), ("captured", True, 0.6)):
        try:
            result = train(config(SEED_AUGMENTED.config("wide_deep"), device, epochs=3 if tiny else SEED_EPOCHS,
                                  batch_size=256, compile_step=on, time_budget_s=max(share * cap_s, 0.1)),
                           data, log=None)
        except Exception as exc:  # noqa: BLE001 - a capture that fails is the finding
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        whole = [m for m in result.history[1:] if m.fraction == 1.0]
        first = result.history[0] if result.history else None
        out[name] = {"epochs_done": len(result.history), "first_epoch_s": round(first.seconds, 2) if first else None,
                     "first_epoch_fraction": first.fraction if first else None,
                     "epoch_s_after_first": round(sum(m.seconds for m in whole) / len(whole), 3) if whole else None,
                     "best_test_acc": result.best_test_acc}
    eager, captured = (out[k].get("epoch_s_after_first") for k in ("eager", "captured"))
    out["speedup"] = round(eager / captured, 2) if eager and captured else None
    return out


def share_device_as_child(runs: int) -> None:
    """This process as one of ``runs`` children of worker.serve on one device: its share of the GPU's memory
    (worker.device.prepare_device applies it) and of the cores."""
    os.environ["CNNLAB_GPU_MEMORY_FRACTION"] = str(memory_fraction(runs))
    torch.set_num_threads(threads_per_child(cpu_cores(), runs))


def _pack_run(data_file: str, device: str, runs: int, cap_s: float, deadline: float, start: Any, results: Any) -> None:
    """One run of the packing test, in its own process with its share of the memory and cores (as
    worker.serve's children): puts its trained-image counts over time, from its first batch to its
    last, which comes ``cap_s`` after the first or well before ``deadline`` (perf_counter: one clock
    for every process of the machine), whichever is sooner."""
    from benchmarks.stage_device import load_decoded

    share_device_as_child(runs)
    samples: list[tuple[float, int]] = []
    error = None
    try:
        data = load_decoded(data_file)
        # epochs: never the limit; the run trains until cap_s after its first batch (the trainer's own
        # time budget is a backstop), then stops as a cancel does: no partial epoch, no evaluation of it
        cfg = config(MODERN.config("compact"), device, epochs=1000, time_budget_s=3 * cap_s + 60, batch_size=256,
                     tta=False, tta_each_epoch=False)
        n, stop, limit = len(data.train_y), {"now": False}, {"s": cap_s}

        def count(epoch: int, done: int, total: int, images: int, epoch_seconds: float) -> None:
            if not samples and device == "cuda":
                torch.cuda.synchronize()  # the window opens on a device that has done the first batch
            now = time.perf_counter()
            if not samples:  # a slow start shortens the run, never the parent's wait
                limit["s"] = min(cap_s, deadline - now - max(1.0, 0.1 * cap_s))
            if len(samples) >= 3 and now - samples[0][0] >= limit["s"]:  # a few batches, however late it started
                if device == "cuda":
                    torch.cuda.synchronize()  # ...and closes once the last batch is done
                now, stop["now"] = time.perf_counter(), True
            samples.append((now, (epoch - 1) * n + images))

        start.wait(timeout=max(1.0, deadline - time.perf_counter()))  # every run starts training together
        train(cfg, data, log=None, on_batch=count, should_stop=lambda: StopReason.CANCELLED if stop["now"] else None)
    except Exception as exc:  # noqa: BLE001 - reported in the JSON (out of memory at 8 runs, say)
        error = f"{type(exc).__name__}: {exc}"[:300]
        start.abort()  # failed before the barrier: the others do not wait for it (after it: no effect)
    memory = torch.cuda.max_memory_reserved() if device == "cuda" and torch.cuda.is_available() else None
    results.put({"samples": samples, "error": error, "max_memory_reserved": memory})


def _images_at(samples: list[tuple[float, int]], t: float) -> float:
    times, images = zip(*samples, strict=True)
    return float(np.interp(t, times, images))


def packed(answers: list[dict[str, Any]], cap_s: float, expected: int) -> dict[str, Any]:
    """Aggregate trained images per second over the window in which every run (``expected`` of
    them) trains, after the warm-up; and each run's own rate from its first to its last trained batch."""
    runs = [a for a in answers if len(a.get("samples") or []) >= 2]
    own = [(a["samples"][-1][1] - a["samples"][0][1]) / (a["samples"][-1][0] - a["samples"][0][0]) for a in runs
           if a["samples"][-1][0] > a["samples"][0][0]]
    out: dict[str, Any] = {"per_run_images_per_s": [round(r, 1) for r in own], "window_s": None, "images": None,
                           "images_per_s": None}
    if len(runs) < expected:
        out["note"] = "a run answered not at all or after fewer than two batches: no aggregate"
    else:
        opens = max(a["samples"][0][0] for a in runs) + WARM_FRACTION * cap_s
        closes = min(a["samples"][-1][0] for a in runs)
        if closes > opens:
            images = sum(_images_at(a["samples"], closes) - _images_at(a["samples"], opens) for a in runs)
            out.update(window_s=round(closes - opens, 2), images=int(images),
                       images_per_s=round(images / (closes - opens), 1))
        else:  # the runs did not overlap long enough: their own rates, added
            out.update(window_s=0.0, images=None, images_per_s=round(sum(own), 1) if own else None,
                       note="no common window after the warm-up: the runs' own rates added")
    return out


def packing(data: ImageDataset, device: str, cap_s: float, counts: tuple[int, ...]) -> dict[str, Any]:
    """Aggregate images/s of N runs sharing the device, each its own process (as worker.serve's
    children), against one run. ``cap_s``: the part's time, split among the counts; each count's
    runs train for what is left of their share after a start-up allowance, and are killed at its end."""
    from benchmarks.stage_device import save_decoded

    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {}
    share = cap_s / len(counts)
    with tempfile.TemporaryDirectory(prefix="cnnlab-packing-") as tmp:
        data_file = str(Path(tmp) / "data.npz")  # decoded once; each run loads it in well under a second
        save_decoded(data, data_file)
        for n in counts:
            allowance = min(20.0, 0.5 * share)  # spawn, import torch, CUDA context, load, the final evaluation
            run_cap = max(share - allowance, 0.5)
            deadline = time.perf_counter() + share
            start, results = ctx.Barrier(n), ctx.Queue()
            procs = [ctx.Process(target=_pack_run, args=(data_file, device, n, run_cap, deadline, start, results),
                                 daemon=True) for _ in range(n)]
            for proc in procs:
                proc.start()
            answers: list[dict[str, Any]] = []
            errors: list[str] = []
            while len(answers) < n:
                try:
                    answers.append(results.get(timeout=0.5))
                    continue
                except queue.Empty:
                    pass
                dead = [p for p in procs if p.exitcode is not None and p.exitcode != 0]
                if dead and not start.broken:
                    start.abort()  # a run that died before the barrier leaves no one waiting for it
                gone = all(p.exitcode is not None for p in procs) and results.empty()
                if time.perf_counter() > deadline + 5.0 or gone:
                    errors.append(f"{n - len(answers)} run(s) gave no answer within {share:.0f} s "
                                  f"(exit codes {[p.exitcode for p in procs]})")
                    break
            for proc in procs:
                proc.join(timeout=max(1.0, deadline - time.perf_counter()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=10)
            errors += [a["error"] for a in answers if a["error"]]
            memory = [a["max_memory_reserved"] for a in answers if a["max_memory_reserved"] is not None]
            out[str(n)] = {"runs": n, "cap_s": round(run_cap, 1), **packed(answers, run_cap, n), "errors": errors,
                           "memory_fraction": memory_fraction(n) if device == "cuda" else None,
                           "threads_per_run": threads_per_child(cpu_cores(), n),
                           "max_memory_reserved_gib": [round(m / 2**30, 2) for m in memory]}
    one = out[str(counts[0])].get("images_per_s")
    for n in counts:
        rate = out[str(n)].get("images_per_s")
        out[str(n)]["ratio_vs_one_run"] = round(rate / one, 2) if one and rate else None
    return out


def time_to_93(data: ImageDataset, device: str, tiny: bool, cap_s: float) -> dict[str, Any]:
    """The best <= 256k preset with the modern recipe (one-cycle over the cap): when 93% came, or the best."""
    preset = "compact" if tiny else BEST_PRESET
    cfg = config(MODERN.config(preset), device, epochs=1 if tiny else 200, time_budget_s=max(cap_s, 1.0),
                 schedule_by="time_budget", tta_each_epoch=False)
    result = train(cfg, data, log=None)
    clock, reached = 0.0, None
    for m in result.history:
        clock += m.seconds
        if reached is None and m.test_acc is not None and m.test_acc >= 0.93:
            reached = round(clock, 1)
    return {"preset": preset, "recipe": MODERN.key, "cap_s": round(cap_s, 1), "epochs_done": len(result.history),
            "seconds_to_93": reached, "best_test_acc": result.best_test_acc, "best_epoch": result.best_epoch,
            "final_evaluation_acc": result.evaluation["accuracy"] if result.evaluation else None,
            "stop_reason": result.stop_reason}


def packed_search(data: ImageDataset, device: str, tiny: bool, cap_s: float) -> dict[str, Any]:
    from benchmarks.gpu_search import search
    from benchmarks.stage_device import save_decoded

    with tempfile.TemporaryDirectory(prefix="cnnlab-search-") as tmp:
        data_file = str(Path(tmp) / "data.npz")  # decoded once; each slot loads it in well under a second
        save_decoded(data, data_file)
        return search(data_file, device, tiny, cap_s)


def run_part(name: str, data: ImageDataset, device: str, tiny: bool, budget_s: float) -> dict[str, Any]:
    """One part with ``budget_s`` seconds in all: its caps leave a margin for its set-up and final evaluation."""
    cap = max(budget_s * 0.85 - 2.0, 0.2)
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "seed_run": lambda: seed_run(data, device, tiny, cap),
        "captured_step": lambda: captured_step(data, device, tiny, cap),
        "packing": lambda: packing(data, device, cap, (1, 2) if tiny else PACKING),
        "time_to_93": lambda: time_to_93(data, device, tiny, cap),
        "search": lambda: packed_search(data, device, tiny, cap),
    }
    return parts[name]()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_suite", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--tiny", action="store_true", help="generated data, a few batches: seconds, for the tests")
    p.add_argument("--budget", type=float, help="seconds the suite may take (about; default 480, 40 with --tiny); "
                   "with --part, that part's seconds")
    p.add_argument("--part", choices=PARTS, action="append", help="run this part alone (repeatable); default: all")
    p.add_argument("--data", type=Path, help="a dataset benchmarks/stage_device.py staged (default: the real CIFAR-10 "
                   "tarball; --tiny: generated)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_suite.json")
    args = p.parse_args(argv)
    args.budget = args.budget or (40.0 if args.tiny else 480.0)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (use --device cpu --tiny to try the script)")
    t0 = time.perf_counter()
    data = dataset(args.tiny, args.data)
    report: dict[str, Any] = {"device": device_line(args.device), "tiny": args.tiny, "budget_s": args.budget,
                              "data_s": round(time.perf_counter() - t0, 1)}
    if args.data is not None:  # the pixels decoded there, against those decoded where the data was staged
        from benchmarks.stage_device import decode_matches

        report["staged_decode_matches"] = decode_matches(args.data, data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    names = args.part or list(PARTS)
    for i, name in enumerate(names):
        left = args.budget - (time.perf_counter() - t0)
        share = left if i == len(names) - 1 else min(left, args.budget * SHARES[name] / sum(SHARES[n] for n in names))
        try:
            report[name] = run_part(name, data, args.device, args.tiny, share)
        except Exception as exc:  # noqa: BLE001 - one part's failure is recorded; the others still run
            report[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        print(f"{name}: {json.dumps(report[name], default=str)}", flush=True)
        report["total_s"] = round(time.perf_counter() - t0, 1)
        args.out.write_text(json.dumps(report, indent=2, default=str))  # after each part: a crash keeps the rest
    print(f"written to {args.out} in {report['total_s']} s", flush=True)
    return report


if __name__ == "__main__":
    main()
