"""Training speed by precision and memory format, through the trainer, on this machine's CPU or GPU.

    python -m benchmarks.step_speed [--preset P] [--limit N] [--epochs E]

Which of fp32 / bf16 autocast and contiguous / channels_last pays depends on the chip: bf16 halves
a step on CPUs with native bf16 (avx512_bf16, AMX) and is many times slower where it is emulated.
Each variant trains E epochs (default 2) of preset P (default compact_pool_last) on the first N
shipped training images (default 2,000) with the time_to_accuracy recipe, evaluation on 500 test
images. Images per second = training images / summed epoch seconds, the first epoch left out
(allocator and kernel warm-up); ratio = variant / fp32 contiguous (PyTorch's defaults), measured
in the same run. Also prints what ``precision="auto"`` chooses here.

    python -m benchmarks.step_speed --ab-draws [--rounds R] [--batch B] [--threads T]

measures the training loop with each epoch's augmentation draws made at its start and moved in one
transfer (worker.trainer.PER_EPOCH_DRAWS, the default) against the reference that draws them batch
by batch (the loop before issue 31), interleaved in one run: R pairs of epochs (crop + flip +
cutout), A B B A ..., each epoch's training pass timed; the ratio of each pair (per-epoch /
per-step images/s), their median and spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, images_per_s_after_first_epoch, machine
from worker.data import load_dataset
from worker.device import pick_device, use_bf16

RESULTS = Path(__file__).parent / "results"
VARIANTS = {"fp32 contiguous": ("fp32", False), "fp32 channels_last": ("fp32", True),
            "bf16 contiguous": ("bf16", False), "bf16 channels_last": ("bf16", True)}


def ab_draws(args: argparse.Namespace) -> None:
    """Per-epoch draws against per-step draws in ONE training run, alternating epoch by epoch (A B B A
    A B B A ...: load that drifts over the run falls on both alike), each epoch's training pass timed
    (the draws included, its evaluation left out); the first epoch (warm-up) is left out."""
    from worker import trainer

    torch.set_num_threads(args.threads)
    data = load_dataset(cifar10_path(), cache_dir="var/cache").limited(args.limit, 200)
    pairs = args.rounds
    config = TrainConfig.model_validate(PILOT_15MIN.config(
        args.preset, epochs=1 + 2 * pairs, time_budget_s=86400, precision="fp32", batch_size=args.batch,
        augment={"crop": True, "padding": 4, "flip": True, "cutout": 8}, data={"holdout": 0}))
    plan = [True] + [(k % 4) in (0, 3) for k in range(2 * pairs)]  # epoch e (1-based) draws per epoch: plan[e - 1]
    trained: dict[int, float] = {}

    def on_batch(epoch: int, done: int, total: int, images: int, seconds: float) -> None:
        if done == total:
            trained[epoch] = seconds

    def on_epoch(metrics: trainer.EpochMetrics) -> None:
        if metrics.epoch < len(plan):
            trainer.PER_EPOCH_DRAWS = plan[metrics.epoch]

    trainer.PER_EPOCH_DRAWS = plan[0]
    try:
        trainer.train(config, data, log=None, on_batch=on_batch, on_epoch=on_epoch)
    finally:
        trainer.PER_EPOCH_DRAWS = True
    n = len(data.train_y)
    speed: dict[str, list[float]] = {"per_epoch": [], "per_step": []}
    ratios = []
    for k in range(pairs):
        epochs = (2 + 2 * k, 3 + 2 * k)
        by = {plan[e - 1]: n / trained[e] for e in epochs}
        speed["per_epoch"].append(by[True])
        speed["per_step"].append(by[False])
        ratios.append(by[True] / by[False])
        print(f"pair {k + 1} (epochs {epochs}): per-epoch {by[True]:.0f} img/s, per-step {by[False]:.0f} img/s, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    out = {"machine": machine(), "preset": args.preset, "train_images": n, "batch_size": args.batch,
           "threads": args.threads, "pairs": pairs, "images_per_s": speed, "ratios": ratios,
           "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
           "per_epoch_median_images_per_s": statistics.median(speed["per_epoch"]),
           "per_step_median_images_per_s": statistics.median(speed["per_step"])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"step_speed_draws_{args.preset}_b{args.batch}.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    print(f"per-epoch / per-step draws: median {out['ratio_median']:.3f} (min {out['ratio_min']:.3f}, "
          f"max {out['ratio_max']:.3f}) over {pairs} pairs of epochs")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="compact_pool_last")
    p.add_argument("--limit", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--ab-draws", action="store_true", help="per-epoch against per-step augmentation draws")
    p.add_argument("--rounds", type=int, default=8, help="--ab-draws: pairs of epochs, one of each")
    p.add_argument("--batch", type=int, default=64, help="--ab-draws: batch size (more steps per epoch: more draws)")
    p.add_argument("--threads", type=int, default=1, help="--ab-draws: intra-op threads (a busy machine: 1)")
    args = p.parse_args()
    if args.ab_draws:
        ab_draws(args)
        return
    data = load_dataset(cifar10_path(), cache_dir="var/cache").limited(args.limit, 500)
    speed: dict[str, float] = {}
    for name, (precision, channels_last) in VARIANTS.items():
        config = TrainConfig.model_validate(PILOT_15MIN.config(
            args.preset, epochs=args.epochs, time_budget_s=3600, precision=precision, channels_last=channels_last))
        speed[name] = images_per_s_after_first_epoch(config, data)
        print(f"{name}: {speed[name]:.0f} img/s", flush=True)
    auto = "bf16" if use_bf16(pick_device("auto"), "auto") else "fp32"
    out = {"machine": machine(), "preset": args.preset, "train_images": len(data.train_y), "epochs": args.epochs,
           "images_per_s": speed,
           "ratio_vs_fp32_contiguous": {k: v / speed["fp32 contiguous"] for k, v in speed.items()},
           "precision_auto_chooses": auto}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"step_speed_{args.preset}.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    for name, ratio in out["ratio_vs_fp32_contiguous"].items():
        print(f"  {name}: {speed[name]:.0f} img/s, {ratio:.2f}x")
    print(f"  precision='auto' chooses {auto} here (with channels_last, the trainer's default)")


if __name__ == "__main__":
    main()
