"""Time to accuracy on the shipped CIFAR-10: train a preset under a time budget, record the curve.

    python -m benchmarks.time_to_accuracy --preset compact --epochs 18 --budget 900 --name cpu15

Prints the training seconds at which test accuracy first reached 80/85/90/93%, and the ratio
against the seed report's 54 GPU minutes to 85% (a reported figure, not measured here: the seed's
own loop is measured against ours in benchmarks/throughput.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import get_args

from backend.architecture import PRESETS, CompactArchitecture
from backend.training_config import TrainConfig
from benchmarks.common import cifar10_path, machine
from worker.data import load_dataset
from worker.trainer import train

SEED_SECONDS_TO_85 = 54 * 60 + 38
RESULTS = Path(__file__).parent / "results"


def recipe(
    preset: str, epochs: int, budget: float, batch_size: int, lr: float, cutout: int = 0,
    activation: str | None = None, tta_shift: int = 0, stem: int | None = None, pool_at: str | None = None,
    whiten_init: bool = False, tta_each_epoch: bool = True, stages: list[list[int]] | None = None, seed: int = 0,
    ema_epochs: float | None = None, alternate_flip: bool = False,
) -> TrainConfig:
    """Our modern recipe: nesterov SGD one-cycle (annealed by the time budget if it ends first),
    label smoothing 0.2, crop+flip (+ cutout when asked), flip TTA (+ shifted copies when asked),
    whitening init of the first conv, a moving average of the weights (``ema_epochs``) and
    alternating flip when asked; with ``tta_each_epoch`` off, each epoch is evaluated
    on the image alone and the views serve the final evaluation only.
    ``activation``, ``stem``, ``pool_at`` and ``stages`` override the preset's (``stages``: any
    family; the others: compact only)."""
    architecture: object = preset
    overrides = {k: v for k, v in (("activation", activation), ("stem", stem), ("pool_at", pool_at),
                                   ("stages", stages)) if v is not None}
    if overrides:
        architecture = {**PRESETS[preset].model_dump(), **overrides}
    return TrainConfig.model_validate(dict(
        architecture=architecture, epochs=epochs, batch_size=batch_size, optimizer="sgd", nesterov=True,
        lr=lr, schedule="onecycle", schedule_by="time_budget", warmup_fraction=0.2, weight_decay=5e-4, label_smoothing=0.2,
        augment={"crop": True, "flip": True, "cutout": cutout, "alternate_flip": alternate_flip},
        tta=True, tta_shift=tta_shift, time_budget_s=budget, seed=seed,
        whiten_init=whiten_init, tta_each_epoch=tta_each_epoch, ema_epochs=ema_epochs,
    ))


def parse_stages(text: str) -> list[list[int]]:
    """'32,32/64,64/112' -> [[32, 32], [64, 64], [112]]: stages split by '/', widths by ','."""
    try:
        return [[int(w) for w in stage.split(",")] for stage in text.split("/")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"stages: {text!r} is not widths like '32,32/64,64/112'") from None


def tta_ablation(config: TrainConfig, data, weights: Path) -> dict[str, float]:
    """Test accuracy of the final weights under each test-time augmentation, for the record; with
    ``ema_epochs``, also of the final trained weights without the average ("raw: ..."), so one run
    measures what the average adds."""
    from worker import checkpoint
    from worker.model import build_model
    from worker.trainer import DeviceData, evaluate, pick_device, use_bf16

    device = pick_device(config.device)
    dd = DeviceData(data, device, config.channels_last)
    model = build_model(config.architecture).to(device).to(memory_format=dd.memory_format)
    state = checkpoint.load(weights, device)
    bf16 = use_bf16(device, config.precision)
    views = {"none": (False, 0), "flip": (True, 0), "flip + shift 1": (True, 1), "flip + shift 2": (True, 2)}
    out = {}
    for prefix, key in (("", "model"), ("raw: ", "train_model")):
        if key in state:
            model.load_state_dict(state[key])
            out.update({prefix + name: evaluate(model, dd, config.eval_batch_size, flip, bf16, shift)[1]
                        for name, (flip, shift) in views.items()})
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="compact")
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--budget", type=float, default=900)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--cutout", type=int, default=0)
    p.add_argument("--activation", choices=get_args(CompactArchitecture.model_fields["activation"].annotation),
                   help="override the preset's")
    p.add_argument("--tta-shift", type=int, default=0, help="pixels of the shifted test-time copies; 0 = off")
    p.add_argument("--stem", type=int, help="override the preset's full-resolution stem width")
    p.add_argument("--pool-at", choices=get_args(CompactArchitecture.model_fields["pool_at"].annotation),
                   help="override the preset's: which conv of each stage the max-pool follows")
    p.add_argument("--stages", type=parse_stages, help="override the preset's conv widths: '32,32/64,64/112,112'")
    p.add_argument("--whiten-init", action="store_true", help="whitening init of the first conv")
    p.add_argument("--final-views-only", action="store_true",
                   help="evaluate each epoch on the image alone; the test-time views only in the final evaluation")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (init, batch order, augmentation)")
    p.add_argument("--ema-epochs", type=float, help="moving average of the weights, time constant in epochs")
    p.add_argument("--alternate-flip", action="store_true", help="alternating flip instead of random flips")
    p.add_argument("--name", default="time_to_accuracy")
    args = p.parse_args()
    config = recipe(args.preset, args.epochs, args.budget, args.batch_size, args.lr, args.cutout,
                    args.activation, args.tta_shift, args.stem, args.pool_at, args.whiten_init,
                    not args.final_views_only, args.stages, args.seed, args.ema_epochs, args.alternate_flip)
    data = load_dataset(cifar10_path(), cache_dir="var/cache")
    weights = Path("var/benchmarks") / args.name
    shutil.rmtree(weights, ignore_errors=True)  # a fresh run, not a resume of an older one
    result = train(config, data, checkpoint_dir=weights)
    ablation = tta_ablation(config, data, weights / "last.pt") if result.history else {}
    reached: dict[str, float | None] = {}
    clock = 0.0
    for m in result.history:
        clock += m.seconds
        for target in (0.80, 0.85, 0.90, 0.93):
            if m.test_acc >= target and reached.get(f"{target:.0%}") is None:
                reached[f"{target:.0%}"] = round(clock, 1)
    for target in ("80%", "85%", "90%", "93%"):
        reached.setdefault(target, None)
    final = None
    if result.evaluation:  # the run's own last step: the best weights under the config's views
        final = {"views": result.evaluation["views"], "epoch": result.evaluation["epoch"],
                 "test_acc": result.evaluation["accuracy"], "eval_s": result.final_eval_s,
                 "training_plus_eval_s": result.elapsed_s + result.final_eval_s}
    out = {"machine": machine(), "preset": args.preset,
           "overrides": {"stages": args.stages, "activation": args.activation, "stem": args.stem, "pool_at": args.pool_at,
                         "whiten_init": args.whiten_init, "final_views_only": args.final_views_only,
                         "cutout": args.cutout, "tta_shift": args.tta_shift, "seed": args.seed,
                         "ema_epochs": args.ema_epochs, "alternate_flip": args.alternate_flip},
           "params": result.params, "macs": result.macs,
           "best_acc": result.best_acc, "best_epoch": result.best_epoch, "stop_reason": result.stop_reason,
           "elapsed_s": result.elapsed_s, "seconds_to": reached,
           "final_evaluation": final,
           "final_weights_test_acc_by_tta": ablation, **{"result": result.to_dict()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    print(f"{args.preset}: {result.params:,} params, best test accuracy {result.best_acc:.2%} "
          f"(epoch {result.best_epoch}), {result.elapsed_s:.0f} s, stopped: {result.stop_reason}")
    for target, secs in reached.items():
        print(f"  {target}: {'not reached' if secs is None else f'{secs:.0f} s of training'}")
    if final:
        print(f"  final evaluation ({final['views']}, weights of epoch {final['epoch']}): {final['test_acc']:.2%}, "
              f"at {final['training_plus_eval_s']:.0f} s = training + {final['eval_s']:.1f} s of evaluation")
    for views, acc in ablation.items():
        print(f"  final weights, test-time views {views}: {acc:.2%}")
    if reached["85%"]:
        print(f"ratio, seed's {SEED_SECONDS_TO_85} s (GPU, reported) to 85% / ours: "
              f"{SEED_SECONDS_TO_85 / reached['85%']:.2f}x")


if __name__ == "__main__":
    main()
