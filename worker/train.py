"""`python -m worker.train --preset wide_deep --augment --epochs 120` — train from the command line.

Prints the seed report's epoch lines and writes a result JSON (config, params, MACs, the metric
series, best accuracy and why training stopped). ``--config run.json`` reads a whole config; the
other flags override its fields.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend.settings import settings
from backend.training_config import TrainConfig
from backend.validation import describe_errors
from worker.data import DatasetError, load_dataset, resolve_source


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m worker.train", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, help="a run config JSON")
    p.add_argument("--preset", help="architecture preset name")
    p.add_argument("--architecture", type=Path, help="an architecture description JSON")
    p.add_argument("--data", help="dataset: 'cifar10', a folder or a .tar.gz")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--test-limit", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    p.add_argument("--lr", type=float)
    p.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--augment", action="store_true", help="random crop (padding 4) and horizontal flip")
    p.add_argument("--cutout", type=int)
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation")
    p.add_argument("--tta-shift", type=int, help="also average copies shifted by this many pixels at test time")
    p.add_argument("--final-views-only", action="store_true",
                   help="evaluate each epoch on the image alone; the test-time views only in the final evaluation")
    p.add_argument("--whiten-init", action="store_true", help="initialise the first conv as a patch whitening")
    p.add_argument("--alternate-flip", action="store_true",
                   help="with --augment: mirror each image on every other epoch instead of at random")
    p.add_argument("--ema-epochs", type=float,
                   help="evaluate and keep a moving average of the weights, time constant in epochs")
    p.add_argument("--patience", type=int, help="early stopping patience, epochs")
    p.add_argument("--seed", type=int)
    p.add_argument("--time-budget", type=float, help="seconds")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--checkpoint-dir", type=Path, help="write best.pt / last.pt here; resume from last.pt")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON path")
    return p


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}
    if args.preset:
        raw["architecture"] = args.preset
    if args.architecture:
        raw["architecture"] = json.loads(args.architecture.read_text())
    data = raw.setdefault("data", {})
    for key, value in (("source", args.data), ("train_limit", args.train_limit), ("test_limit", args.test_limit)):
        if value is not None:
            data[key] = value
    for key in ("epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay",
                "label_smoothing", "seed", "device"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    if args.patience is not None:
        raw["early_stopping_patience"] = args.patience
    if args.time_budget is not None:
        raw["time_budget_s"] = args.time_budget
    augment = raw.setdefault("augment", {})
    if args.augment:
        augment.update(crop=True, flip=True)
    if args.cutout is not None:
        augment["cutout"] = args.cutout
    if args.tta:
        raw["tta"] = True
    if args.tta_shift is not None:
        raw["tta_shift"] = args.tta_shift
    if args.final_views_only:
        raw["tta_each_epoch"] = False
    if args.whiten_init:
        raw["whiten_init"] = True
    if args.alternate_flip:
        augment["alternate_flip"] = True
    if args.ema_epochs is not None:
        raw["ema_epochs"] = args.ema_epochs
    raw.setdefault("architecture", "wide_deep")
    return raw


def main(argv: list[str] | None = None) -> int:
    from worker.trainer import train  # torch loads only once the arguments are good

    args = _parser().parse_args(argv)
    try:
        config = TrainConfig.model_validate(config_from_args(args))
    except ValidationError as exc:
        for err in describe_errors(exc):
            print(f"error: {err['field']}: {err['message']}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: config: {exc}", file=sys.stderr)
        return 2
    try:
        source, may_download = resolve_source(config.data.source)
        data = load_dataset(source, download=may_download, cache_dir=settings.CACHE_DIR,
                            size=config.architecture.input_size)
    except DatasetError as exc:
        print(f"error: data.source: {exc}", file=sys.stderr)
        return 2
    data = data.limited(config.data.train_limit, config.data.test_limit)
    result = train(config, data, checkpoint_dir=args.checkpoint_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result.to_dict(), indent=2))
    print(f"Best test accuracy {result.best_acc:.2%} at epoch {result.best_epoch}; "
          f"stopped: {result.stop_reason}; result written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
