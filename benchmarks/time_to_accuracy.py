"""Time to accuracy on the shipped CIFAR-10: train a preset under a time budget, record the curve.

    python -m benchmarks.time_to_accuracy --preset compact --recipe pilot_15min --name cpu15
    python -m benchmarks.time_to_accuracy --preset compact --architecture.stem 24 --augment.cutout 8 --name x

A named recipe (backend.training.recipes) for the preset, then any run option's flag, as worker.train takes them.

Prints the training seconds at which test accuracy first reached 80/85/90/93%, and the ratio
against the seed report's 54 GPU minutes to 85% (a reported figure, not measured here: the seed's
own loop is measured against ours in benchmarks/throughput.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from backend.training.config import TrainConfig
from backend.training.recipes import PILOT_15MIN, RECIPES
from benchmarks.common import cifar10_path, machine
from worker import flags
from worker.data import load_dataset, run_split
from worker.trainer import train

SEED_SECONDS_TO_85 = 54 * 60 + 38
RESULTS = Path(__file__).parent / "results"


def tta_ablation(config: TrainConfig, data, weights: Path) -> dict[str, float]:
    """Test accuracy of the final weights under each test-time augmentation, for the record; with
    ``ema_epochs``, also of the final trained weights without the average ("raw: ..."), so one run
    measures what the average adds."""
    from worker import checkpoint
    from worker.device import DeviceData, pick_device, use_bf16
    from worker.evaluation import evaluate
    from worker.model import build_model

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


def config_from(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict[str, Any], TrainConfig]:
    """The run's config: a named recipe for the preset, then any option flag (``worker.flags``)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.time_to_accuracy", allow_abbrev=False)
    p.add_argument("--preset", default="compact", help="architecture preset; --architecture.* flags edit it")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=PILOT_15MIN.key, help="backend.training.recipes")
    p.add_argument("--name", default="time_to_accuracy", help="results/NAME.json")
    flags.add_option_flags(p)
    args = p.parse_args(argv)
    overrides = flags.given(args)
    raw = flags.apply(RECIPES[args.recipe].config(args.preset), overrides)
    return args, overrides, TrainConfig.model_validate(raw)


def main() -> None:
    args, overrides, config = config_from()
    data = run_split(load_dataset(cifar10_path(), cache_dir="var/cache"), config)
    weights = Path("var/benchmarks") / args.name
    shutil.rmtree(weights, ignore_errors=True)  # a fresh run, not a resume of an older one
    result = train(config, data, checkpoint_dir=weights)
    ablation = tta_ablation(config, data, weights / "last.pt") if result.history else {}
    reached: dict[str, float | None] = {}
    clock = 0.0
    for m in result.history:
        clock += m.seconds
        for target in (0.80, 0.85, 0.90, 0.93):
            if m.test_acc is not None and m.test_acc >= target and reached.get(f"{target:.0%}") is None:
                reached[f"{target:.0%}"] = round(clock, 1)
    for target in ("80%", "85%", "90%", "93%"):
        reached.setdefault(target, None)
    final = None
    if result.evaluation:  # the run's own last step: the best weights under the config's views
        final = {"views": result.evaluation["views"], "epoch": result.evaluation["epoch"],
                 "test_acc": result.evaluation["accuracy"], "eval_s": result.final_eval_s,
                 "training_plus_eval_s": result.elapsed_s + result.final_eval_s}
    out = {"machine": machine(), "preset": args.preset, "recipe": args.recipe, "overrides": overrides,
           "params": result.params, "macs": result.macs,
           "selected_on": result.selected_on, "holdout": result.holdout, "test_acc_at_best": result.test_acc_at_best,
           "best_val_acc": result.best_val_acc, "best_test_acc": result.best_test_acc,
           "best_epoch": result.best_epoch, "stop_reason": result.stop_reason,
           "elapsed_s": result.elapsed_s, "seconds_to": reached,
           "final_evaluation": final,
           "final_weights_test_acc_by_tta": ablation, **{"result": result.to_dict()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    headline = result.test_acc_at_best
    print(f"{args.preset}: {result.params:,} params, test accuracy "
          f"{'not read' if headline is None else f'{headline:.2%}'} at epoch "
          f"{result.best_epoch} chosen on {result.chosen_on_words}, {result.elapsed_s:.0f} s, "
          f"stopped: {result.stop_reason}")
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
