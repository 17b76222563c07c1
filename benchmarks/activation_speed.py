"""Training speed of the compact preset by activation: exact GELU (the reference), GELU's tanh
approximation and ReLU, each measured in this run on this machine through the trainer itself.

    python -m benchmarks.activation_speed [--limit N] [--epochs E]

Each variant trains E epochs (default 3) on the first N shipped training images (default 10,000)
with the time_to_accuracy recipe (crop + flip + cutout 8, batch 256, bf16 autocast where the CPU
has it), evaluation on 1,000 test images. Images per second = training images seen / summed epoch
seconds, the first epoch left out (allocator and kernel warm-up); ratio = variant / exact GELU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, images_per_s_after_first_epoch, machine
from worker import flags
from worker.data import load_dataset

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("gelu", "gelu_tanh", "relu")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=10_000)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    data = load_dataset(cifar10_path(), cache_dir="var/cache").limited(args.limit, 1_000)
    speed: dict[str, float] = {}
    for activation in VARIANTS:
        raw = PILOT_15MIN.config("compact", epochs=args.epochs, time_budget_s=3600)
        overrides = {"augment.cutout": 8, "architecture.activation": activation}
        config = TrainConfig.model_validate(flags.apply(raw, overrides))
        speed[activation] = images_per_s_after_first_epoch(config, data)
    out = {"machine": machine(), "preset": "compact", "train_images": len(data.train_y), "epochs": args.epochs,
           "images_per_s": speed, "ratio_vs_gelu": {k: v / speed["gelu"] for k, v in speed.items()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "activation_speed.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    for activation in VARIANTS:
        print(f"  compact, {activation:9s}: {speed[activation]:6.0f} img/s (training + evaluation), "
              f"{out['ratio_vs_gelu'][activation]:.2f}x exact GELU")


if __name__ == "__main__":
    main()
