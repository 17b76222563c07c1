"""`python -m worker.summary <preset | config.json> [--json]` — the per-layer size table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backend.architecture import ArchitectureError, parse_architecture, summarize


def load_description(arg: str) -> object:
    """A preset name, or a JSON file holding a description or a whole run config."""
    path = Path(arg)
    if not path.suffix == ".json":
        return arg
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ArchitectureError("config", f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ArchitectureError("config", f"{path} is not valid JSON ({exc})") from None
    return data.get("architecture", data) if isinstance(data, dict) else data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.summary", description=__doc__)
    parser.add_argument("architecture", help="a preset name or a .json description / run config")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    try:
        summary = summarize(parse_architecture(load_description(args.architecture)))
    except ArchitectureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
