"""Training speed by precision and memory format, through the trainer, on this machine's CPU or GPU.

    python -m benchmarks.step_speed [--preset P] [--limit N] [--epochs E]

Which of fp32 / bf16 autocast and contiguous / channels_last pays depends on the chip: bf16 halves
a step on CPUs with native bf16 (avx512_bf16, AMX) and is many times slower where it is emulated.
Each variant trains E epochs (default 2) of preset P (default compact_pool_last) on the first N
shipped training images (default 2,000) with the time_to_accuracy recipe, evaluation on 500 test
images. Images per second = training images / summed epoch seconds, the first epoch left out
(allocator and kernel warm-up); ratio = variant / fp32 contiguous (PyTorch's defaults), measured
in the same run. Also prints what ``precision="auto"`` chooses here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN
from benchmarks.common import cifar10_path, images_per_s_after_first_epoch, machine
from worker.data import load_dataset
from worker.device import pick_device, use_bf16

RESULTS = Path(__file__).parent / "results"
VARIANTS = {"fp32 contiguous": ("fp32", False), "fp32 channels_last": ("fp32", True),
            "bf16 contiguous": ("bf16", False), "bf16 channels_last": ("bf16", True)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="compact_pool_last")
    p.add_argument("--limit", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
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
