"""Every run option, read from its one declaration (``TrainConfig`` and the architecture families).

An :class:`Option` is one leaf field under its dotted name (``lr``, ``augment.cutout``,
``architecture.stem``) with what the CLI, the form and the API need: kind, default, limits,
choices, label, help, unit, group and whether it is advanced. Nothing here declares an option;
adding a field to the config adds it everywhere these are read.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, cast, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from backend.architecture import PRESETS
from backend.architecture.description import FAMILIES
from backend.core.option_field import GROUPS, Group
from backend.training.config import TrainConfig

Kind = Literal["bool", "int", "float", "choice", "text", "ints", "stages"]
_NOT_OPTIONS = {"architecture.name"}  # the preset picker names a network; it is not a knob


@dataclass(frozen=True)
class Option:
    name: str  # dotted path in the config
    kind: Kind
    title: str
    group: Group
    help: str = ""
    unit: str | None = None
    advanced: bool = False
    default: Any = None
    nullable: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None  # with minimum_exclusive: > instead of >=
    maximum: float | None = None
    minimum_exclusive: bool = False
    maximum_exclusive: bool = False
    requires: str | None = None  # a yes/no option this one needs on
    families: tuple[str, ...] = ()  # architecture options: the families that have it
    family_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        """The CLI flag: ``--batch-size``, ``--augment.cutout``, ``--architecture.pool-at``."""
        return "--" + self.name.replace("_", "-")

    @property
    def limits(self) -> str:
        """The limits in words, for help texts: '> 0 and <= 64'."""
        def number(x: float) -> str:
            return str(int(x)) if float(x).is_integer() else f"{x:g}"

        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.minimum_exclusive else '>='} {number(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.maximum_exclusive else '<='} {number(self.maximum)}")
        return " and ".join(parts)

    def parse(self, text: str) -> Any:
        """A value typed by a person (CLI, a form's text box) → the config's value; ValueError if not."""
        text = text.strip()
        if self.nullable and text.lower() in ("", "none", "null", "off"):
            return None
        if self.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{text!r} is not true or false")
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            return float(text)
        if self.kind == "ints":
            return [int(w) for w in text.split(",") if w.strip()]
        if self.kind == "stages":
            return [[int(w) for w in stage.split(",") if w.strip()] for stage in text.split("/")]
        if self.kind == "choice" and text not in self.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(map(str, self.choices))}")
        return text


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(annotation)):
            return args[0], True
    return annotation, False


def _kind(annotation: Any) -> tuple[Kind, tuple[Any, ...]]:
    if get_origin(annotation) is Literal:
        return "choice", get_args(annotation)
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if annotation is str:
        return "text", ()
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if item is int:
            return "ints", ()
        if get_origin(item) is list:
            return "stages", ()
    raise TypeError(f"no form or CLI kind for {annotation!r}: declare how people set it in backend.training.options")


def _option(name: str, info: FieldInfo) -> Option:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "x-group" not in extra or not info.title:
        raise TypeError(f"{name}: declare it with option(...) (title, group), so the CLI and the form can show it")
    annotation, nullable = _unwrap_optional(info.annotation)
    kind, choices = _kind(annotation)
    bounds: dict[str, Any] = {}
    for meta in info.metadata:
        for attr, key, exclusive in (("ge", "minimum", False), ("gt", "minimum", True),
                                     ("le", "maximum", False), ("lt", "maximum", True)):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                bounds[key] = getattr(meta, attr)
                bounds[f"{key}_exclusive"] = exclusive
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    # option() wrote these keys: the group as a Group, the unit and the requirement as strings (or left them out)
    group = cast(Group, extra["x-group"])
    unit = cast("str | None", extra.get("x-unit"))
    requires = cast("str | None", extra.get("x-requires"))
    return Option(
        name=name, kind=kind, title=info.title, group=group, help=info.description or "",
        unit=unit, advanced=bool(extra.get("x-advanced")), requires=requires,
        default=default,
        nullable=nullable, choices=choices, **bounds,
    )


def _leaves(model: type[BaseModel], prefix: str = "") -> list[Option]:
    out: list[Option] = []
    for name, info in model.model_fields.items():
        dotted = prefix + name
        if dotted == "architecture":
            continue
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out.extend(_leaves(info.annotation, dotted + "."))
        else:
            out.append(_option(dotted, info))
    return out


def _architecture_options() -> list[Option]:
    family = Option(name="architecture.family", kind="choice", title="Family", group="architecture",
                    help="plain: the seed's; compact: conv-BN, global pool; resnet: residual blocks",
                    default="compact", choices=tuple(FAMILIES))
    merged: dict[str, Option] = {}
    for tag, model in FAMILIES.items():
        for name, info in model.model_fields.items():
            dotted = f"architecture.{name}"
            if name == "family" or dotted in _NOT_OPTIONS:
                continue
            opt = _option(dotted, info)
            seen = merged.get(dotted)
            if seen is None:
                merged[dotted] = Option(**{**opt.__dict__, "families": (tag,), "family_defaults": {tag: opt.default}})
            else:  # the widest limits of the families that have it (each checks its own); their defaults
                low = min(seen.minimum, opt.minimum) if seen.minimum is not None and opt.minimum is not None else None
                high = max(seen.maximum, opt.maximum) if seen.maximum is not None and opt.maximum is not None else None
                merged[dotted] = Option(**{**seen.__dict__, "minimum": low, "maximum": high,
                                           "families": (*seen.families, tag),
                                           "family_defaults": {**seen.family_defaults, tag: opt.default}})
    return [family, *merged.values()]


@functools.cache
def all_options() -> tuple[Option, ...]:
    """Every option a person can set: the architecture's (per family) and the run's."""
    return (*_architecture_options(), *_leaves(TrainConfig))


def element_ids() -> dict[str, str]:
    """The form's element id of each option: its last name where that is unique ("cutout"), else the
    dotted name with dashes."""
    last = [o.name.rsplit(".", 1)[-1] for o in all_options()]
    return {o.name: (short if last.count(short) == 1 else o.name.replace(".", "-"))
            for o, short in zip(all_options(), last, strict=True)}


def by_group() -> list[tuple[Group, list[Option], list[Option]]]:
    """(group, its options shown by default, its advanced ones) in the form's order."""
    out = []
    for group in GROUPS:
        members = [o for o in all_options() if o.group == group]
        out.append((group, [o for o in members if not o.advanced], [o for o in members if o.advanced]))
    return out


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_path(c, "augment.cutout", 8)``: c["augment"]["cutout"] = 8, making the dicts on the way;
    an architecture given as a preset name opens into its fields. ValueError where a step is not an
    object."""
    parts = dotted.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if isinstance(child, str) and part == "architecture" and child in PRESETS:
            child = PRESETS[child].model_dump(mode="json")
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise ValueError(f"{'.'.join(parts[: i + 1])} is not an object")
        node[part] = child
        node = child
    node[parts[-1]] = value


def schema_has(schema: dict[str, Any], dotted: str) -> bool:
    """Whether a JSON schema (with its $defs) declares the dotted property (any architecture family)."""
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in node:
            return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                return [n for sub in node[key] for n in resolve(sub)]
        return [node]

    nodes = [schema]
    for part in dotted.split("."):
        nodes = [n["properties"][part] for node in nodes for n in resolve(node) if part in n.get("properties", {})]
        if not nodes:
            return False
    return True
