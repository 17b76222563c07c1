"""The training CLI's option flags, generated from the options' one declaration.

Every option is a flag under its dotted name: ``--epochs 8``, ``--batch-size 512``,
``--augment.cutout 8``, ``--architecture.stages 32,32/64,64/112``; a yes/no option has its
``--no-`` form (``--no-tta-each-epoch``); an option that may be empty takes ``none``. The short
forms people used before the flags were generated keep working (``ALIASES``, ``--augment`` for
crop + flip, ``--final-views-only``). ``worker.train`` and the benchmarks share these flags.
"""

from __future__ import annotations

import argparse
from typing import Any

from backend.architecture import parse_architecture
from backend.core.option_field import GROUPS
from backend.training.options import Option, all_options, set_path

# earlier hand-written flags, kept as second names of the generated ones
ALIASES: dict[str, tuple[str, ...]] = {
    "data.source": ("--data",),
    "data.train_limit": ("--train-limit",),
    "data.test_limit": ("--test-limit",),
    "augment.cutout": ("--cutout",),
    "augment.alternate_flip": ("--alternate-flip",),
    "early_stopping_patience": ("--patience",),
    "time_budget_s": ("--time-budget", "--budget"),
}
_DEST = "option:"
_METAVARS = {"int": "N", "float": "X", "text": "TEXT", "ints": "N,N,..", "stages": "N,N/N,N/..", "choice": "CHOICE"}


def _help(opt: Option) -> str:
    parts = [opt.help or opt.title]
    if opt.unit:
        parts.append(f"[{opt.unit}]")
    facts = []
    if opt.families:
        facts.append("families: " + ", ".join(opt.families))
    if opt.limits:
        facts.append(opt.limits)
    if opt.choices:
        facts.append("one of " + ", ".join(map(str, opt.choices)))
    if opt.nullable:
        facts.append("'none' = off")
    default = opt.family_defaults or opt.default
    facts.append(f"default {default}")
    return " ".join(parts) + " (" + "; ".join(facts) + ")"


def _typed(opt: Option) -> Any:
    def parse(text: str) -> Any:
        try:
            return opt.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{opt.name}: {exc}") from None

    parse.__name__ = opt.kind  # argparse names the type in its error
    return parse


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option, in the form's groups, and the kept short forms."""
    groups = {g: parser.add_argument_group(f"{g} options") for g in GROUPS}
    for opt in all_options():
        names = [opt.flag, *ALIASES.get(opt.name, ())]
        kwargs: dict[str, Any] = {"dest": _DEST + opt.name, "default": argparse.SUPPRESS, "help": _help(opt)}
        if opt.kind == "bool":
            groups[opt.group].add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            metavar = "{" + ",".join(map(str, opt.choices)) + "}" if opt.choices else _METAVARS[opt.kind]
            groups[opt.group].add_argument(*names, type=_typed(opt), metavar=metavar, **kwargs)
    parser.add_argument("--augment", action="store_true", default=False,
                        help="short for --augment.crop --augment.flip")
    parser.add_argument("--final-views-only", action="store_true", default=False,
                        help="short for --no-tta-each-epoch")


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The options set on the command line, by dotted name (short forms resolved)."""
    out = {k.removeprefix(_DEST): v for k, v in vars(args).items() if k.startswith(_DEST)}
    if getattr(args, "augment", False):
        out.setdefault("augment.crop", True)
        out.setdefault("augment.flip", True)
    if getattr(args, "final_views_only", False):
        out.setdefault("tta_each_epoch", False)
    return out


def apply(raw: dict[str, Any], options: dict[str, Any], default_architecture: str = "wide_deep") -> dict[str, Any]:
    """Write the given options into a raw config. ``architecture.*`` options edit the config's
    network (a preset name is expanded first, so ``--preset compact --architecture.stem 24`` works,
    and is named "custom");
    a new ``architecture.family`` keeps only what that family has. Raises ArchitectureError."""
    arch = {k.removeprefix("architecture."): v for k, v in options.items() if k.startswith("architecture.")}
    if arch:
        described = parse_architecture(raw.get("architecture", default_architecture)).model_dump()
        family = arch.get("family", described["family"])
        if family != described["family"]:
            keep = {o.name.removeprefix("architecture.") for o in all_options() if family in o.families}
            described = {k: v for k, v in described.items() if k in keep}
        # an edited network is not the preset any more (as the form says): "custom" unless named
        raw["architecture"] = {**described, "name": "custom", **arch, "family": family}
    for name, value in options.items():
        if not name.startswith("architecture."):
            set_path(raw, name, value)
    return raw
