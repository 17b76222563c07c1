"""The GPU benchmark, prepared to run in one go (about 8 minutes on one GPU), one JSON out:

    python -m benchmarks.gpu_suite --out benchmarks/results/gpu_suite.json
    python -m benchmarks.gpu_suite --device cpu --tiny --out /tmp/tiny.json   # seconds: the script works

1. the seed's run — wide_deep, crop + flip, 120 epochs — at the trainer's default batch (goal: under
   60 s on an H100-class GPU; the seed took 54 minutes), and one epoch at the seed's batch 16 with its
   extrapolation to 120 epochs;
2. packing: aggregate training images per second with 1, 2, 4 and 8 runs sharing the device, each
   its own process as worker.serve starts them (goal: 4 runs at >= 3x one run's throughput);
3. time to 93% test accuracy with the best <= 256k preset and the modern recipe, or the best reached
   within the time left;
4. the device line (GPU name, memory, driver, torch and CUDA versions).

Each part has its own time cap, so the whole fits its budget (``--budget``, default 480 s); a part
that hits its cap says so (epochs done, and the extrapolation). ``--tiny`` shrinks everything to
generated data and a few batches, for the test suite and for trying the script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.training.config import TrainConfig
from backend.training.recipes import MODERN, SEED_AUGMENTED
from benchmarks.common import cifar10_path, machine
from worker.data import ImageDataset, load_dataset
from worker.trainer import train

SEED_EPOCHS = 120
SEED_MINUTES = 54 + 38 / 60
PACKING = (1, 2, 4, 8)
BEST_PRESET = "resnet20"  # the best <= 256k preset of benchmarks/RESULTS.md's hour on the CPU (89.3%)


def dataset(tiny: bool) -> ImageDataset:
    if tiny:  # generated: 10 classes, each a colour with noise, so accuracy can rise above chance
        rng = np.random.default_rng(0)

        def images(n: int) -> tuple[np.ndarray, np.ndarray]:
            y = rng.integers(0, 10, n)
            base = (np.arange(10)[:, None] * np.array([25, 60, 95]) % 255).astype(np.int16)
            x = base[y][:, None, None, :] + rng.integers(-40, 40, (n, 32, 32, 3))
            return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

        (tx, ty), (vx, vy) = images(256), images(128)
        return ImageDataset(tx, ty, vx, vy, [f"class{i}" for i in range(10)])
    return load_dataset(str(cifar10_path()), cache_dir="var/cache")


def device_line(device: str) -> dict[str, Any]:
    line: dict[str, Any] = {"machine": machine(), "torch": torch.__version__, "cuda": torch.version.cuda}
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        line.update(gpu=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}")
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
                        time_budget_s=cap_s), data, log=None)
    done = len(fast.history)
    seconds = sum(m.seconds for m in fast.history)
    one = train(config(SEED_AUGMENTED.config("wide_deep"), device, epochs=1, batch_size=16, time_budget_s=cap_s),
                data, log=None)
    epoch16 = one.history[0].seconds if one.history else None
    return {
        "batch_size": 256, "epochs_planned": epochs, "epochs_done": done, "seconds": round(seconds, 2),
        "seconds_for_120_epochs": round(seconds / done * SEED_EPOCHS, 1) if done else None,
        "best_test_acc": fast.best_test_acc, "stop_reason": fast.stop_reason,
        "goal_s": 60.0, "seed_minutes": round(SEED_MINUTES, 1),
        "batch16_one_epoch_s": round(epoch16, 2) if epoch16 else None,
        "batch16_120_epochs_extrapolated_s": round(epoch16 * SEED_EPOCHS, 1) if epoch16 else None,
    }


def _pack_run(device: str, tiny: bool, epochs: int, cap_s: float, start: Any, results: Any) -> None:
    """One run of the packing test, in its own process: puts (training images seen, seconds)."""
    data = dataset(tiny)
    cfg = config(MODERN.config("compact"), device, epochs=epochs, time_budget_s=cap_s, batch_size=256, tta=False)
    seen = {"images": 0, "seconds": 0.0}

    def count(epoch: int, done: int, total: int, images: int, epoch_seconds: float) -> None:
        seen["images"] = (epoch - 1) * len(data.train_y) + images  # every trained batch, a cut-off epoch's too

    start.wait(timeout=600)  # every run starts training together
    t0 = time.perf_counter()
    try:
        train(cfg, data, log=None, on_batch=count)
        results.put((seen["images"], time.perf_counter() - t0, None))
    except Exception as exc:  # noqa: BLE001 - reported in the JSON (out of memory at 8 runs, say)
        results.put((seen["images"], time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:300]))


def packing(device: str, tiny: bool, cap_s: float, counts: tuple[int, ...]) -> dict[str, Any]:
    """Aggregate images/s of N runs sharing the device, each its own process (as worker.serve's children)."""
    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {}
    for n in counts:
        start, results = ctx.Barrier(n, timeout=600), ctx.Queue()
        procs = [ctx.Process(target=_pack_run, args=(device, tiny, 1 if tiny else 3, cap_s, start, results))
                 for _ in range(n)]
        t0 = time.perf_counter()
        for proc in procs:
            proc.start()
        got = []
        for _ in procs:
            try:
                got.append(results.get(timeout=cap_s + 300))
            except queue.Empty:
                got.append((0, 0.0, "no answer from the run's process"))
        wall = time.perf_counter() - t0
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        images, train_s = sum(g[0] for g in got), max(g[1] for g in got)
        errors = [g[2] for g in got if g[2]]
        out[str(n)] = {"runs": n, "images": images, "train_s": round(train_s, 2), "wall_s": round(wall, 2),
                       "images_per_s": round(images / train_s, 1) if train_s and not errors else None,
                       "errors": errors}
    one = out[str(counts[0])]["images_per_s"]
    for n in counts:
        rate = out[str(n)]["images_per_s"]
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
        if reached is None and m.test_acc >= 0.93:
            reached = round(clock, 1)
    return {"preset": preset, "recipe": MODERN.key, "cap_s": round(cap_s, 1), "epochs_done": len(result.history),
            "seconds_to_93": reached, "best_test_acc": result.best_test_acc, "best_epoch": result.best_epoch,
            "final_evaluation_acc": result.evaluation["accuracy"] if result.evaluation else None,
            "stop_reason": result.stop_reason}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_suite", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--tiny", action="store_true", help="generated data, a few batches: seconds, for the tests")
    p.add_argument("--budget", type=float, default=480.0, help="seconds the whole suite may take (about)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_suite.json")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (use --device cpu --tiny to try the script)")
    t0 = time.perf_counter()
    data = dataset(args.tiny)
    report: dict[str, Any] = {"device": device_line(args.device), "tiny": args.tiny, "budget_s": args.budget}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    counts = (1, 2) if args.tiny else PACKING
    parts = {
        "seed_run": lambda: seed_run(data, args.device, args.tiny, cap_s=0.3 * args.budget),
        "packing": lambda: packing(args.device, args.tiny, cap_s=0.05 * args.budget, counts=counts),
        "time_to_93": lambda: time_to_93(data, args.device, args.tiny,
                                         cap_s=args.budget - (time.perf_counter() - t0) - 10),
    }
    for name, part in parts.items():
        try:
            report[name] = part()
        except Exception as exc:  # noqa: BLE001 - one part's failure is recorded; the others still run
            report[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        print(f"{name}: {report[name]}", flush=True)
        report["total_s"] = round(time.perf_counter() - t0, 1)
        args.out.write_text(json.dumps(report, indent=2, default=str))  # after each part: a crash keeps the rest
    print(f"written to {args.out} in {report['total_s']} s", flush=True)
    return report


if __name__ == "__main__":
    main()
