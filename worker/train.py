"""`python -m worker.train --preset wide_deep --augment --epochs 120` — train from the command line.

Prints the seed report's epoch lines and writes a result JSON (config, params, MACs, the metric
series, best accuracy and why training stopped). ``--config run.json`` reads a whole config; the
other flags override its fields. Every run option is a flag, generated from its declaration
(``worker.flags``): ``--augment.cutout 8``, ``--architecture.stem 24``, ``--no-tta-each-epoch``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend.architecture import ArchitectureError
from backend.core.settings import settings
from backend.core.validation import describe_errors
from backend.training.config import TrainConfig
from worker import flags
from worker.data import DatasetError, load_dataset, resolve_source, run_split


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m worker.train", description=__doc__.split("\n")[0],
                                allow_abbrev=False)
    p.add_argument("--config", type=Path, help="a run config JSON; the flags override its fields")
    p.add_argument("--preset", help="architecture preset name")
    p.add_argument("--architecture", type=Path, help="an architecture description JSON")
    p.add_argument("--checkpoint-dir", type=Path, help="write best.pt / last.pt here; resume from last.pt")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="result JSON path")
    flags.add_option_flags(p)
    return p


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}
    if args.preset:
        raw["architecture"] = args.preset
    if args.architecture:
        raw["architecture"] = json.loads(args.architecture.read_text())
    raw.setdefault("architecture", "wide_deep")
    return flags.apply(raw, flags.given(args))


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
    except ArchitectureError as exc:
        print(f"error: architecture.{exc.field}: {exc.message}", file=sys.stderr)
        return 2
    try:
        source, may_download = resolve_source(config.data.source)
        data = load_dataset(source, download=may_download, cache_dir=settings.CACHE_DIR,
                            size=config.architecture.input_size)
    except DatasetError as exc:
        print(f"error: data.source: {exc}", file=sys.stderr)
        return 2
    try:
        data = run_split(data, config)
    except DatasetError as exc:  # the message names data.holdout and the limit
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = train(config, data, checkpoint_dir=args.checkpoint_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result.to_dict(), indent=2))
    headline = result.test_acc_at_best
    print(f"Test accuracy {'not read' if headline is None else f'{headline:.2%}'} at epoch {result.best_epoch}, "
          f"chosen on {result.chosen_on_words}; "
          f"stopped: {result.stop_reason}; result written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
