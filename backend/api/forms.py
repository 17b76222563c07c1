"""A request body's fields as a page's form shows them, read from the body's JSON schema (its
pydantic model): kind, title, help, default, bounds (ge/gt/le/lt, min/max_length, min/max items) and
choices (an ``enum``, with its ``x-titles``). A template renders inputs from these and a script reads
them back by ``data-field`` and ``data-kind``, so no form copies a limit, a default or a choice.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup
from pydantic import BaseModel

Kind = Literal["text", "int", "float", "bool", "choice", "choices", "json"]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class BodyField:
    name: str
    kind: Kind
    title: str
    help: str = ""
    required: bool = False
    nullable: bool = False  # may be sent as null (an empty input)
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    minimum_exclusive: bool = False
    maximum_exclusive: bool = False
    min_length: int | None = None  # characters of a text, keys of an object
    max_length: int | None = None
    min_items: int | None = None  # items of a list
    max_items: int | None = None
    choices: tuple[Any, ...] = ()  # a choice's values, or the items' of a list of choices
    titles: dict[str, str] | None = None  # a choice's words for people (the schema's x-titles)

    @property
    def limits(self) -> str:
        """The bounds in words, for the help text: '>= 1 and <= 500', 'at most 40', '1 to 2'."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.minimum_exclusive else '>='} {_number(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.maximum_exclusive else '<='} {_number(self.maximum)}")
        if parts:
            return " and ".join(parts)
        low, high = None, None
        if self.kind in ("choices", "json"):  # items of a list, else keys of an object
            low, high = ((self.min_items, self.max_items) if self.min_items is not None or self.max_items is not None
                         else (self.min_length, self.max_length))
        if high is not None:
            return f"{low} to {high}" if low else f"at most {high}"
        return f"at least {low}" if low else ""

    @property
    def attrs(self) -> Markup:
        """An input's HTML attributes for these bounds (min/max/step, minlength/maxlength, required)."""
        out: list[str] = []
        if self.kind in ("int", "float"):
            out.append(f'step="{"1" if self.kind == "int" else "any"}"')
            if self.minimum is not None:
                low = self.minimum + 1 if self.minimum_exclusive and self.kind == "int" else self.minimum
                out.append(f'min="{_number(low)}"')
            if self.maximum is not None:
                high = self.maximum - 1 if self.maximum_exclusive and self.kind == "int" else self.maximum
                out.append(f'max="{_number(high)}"')
        if self.kind == "text":
            if self.min_length:
                out.append(f'minlength="{self.min_length}"')
            if self.max_length is not None:
                out.append(f'maxlength="{self.max_length}"')
        if self.required:
            out.append("required")
        return Markup(" ".join(out))

    @property
    def default_json(self) -> str:
        """The default as the form's script reads it back (``data-default``)."""
        return json.dumps(self.default)

    def title_of(self, value: Any) -> str:
        return (self.titles or {}).get(str(value), str(value))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _field(name: str, prop: dict[str, Any], required: bool, defs: dict[str, Any]) -> BodyField:
    prop = _resolve(prop, defs)
    nullable = False
    node = prop
    if "anyOf" in prop:  # Optional[X]: X, and null allowed
        options = [_resolve(o, defs) for o in prop["anyOf"]]
        rest = [o for o in options if o.get("type") != "null"]
        nullable = len(rest) < len(options)
        node = {**(rest[0] if len(rest) == 1 else {}), **{k: v for k, v in prop.items() if k != "anyOf"}}
    kind: Kind
    choices: tuple[Any, ...] = ()
    titles = node.get("x-titles")
    typ = node.get("type")
    if "enum" in node:
        kind, choices = "choice", tuple(node["enum"])
    elif typ == "array" and "enum" in _resolve(node.get("items", {}), defs):
        items = _resolve(node["items"], defs)
        kind, choices, titles = "choices", tuple(items["enum"]), items.get("x-titles")
    elif typ == "integer":
        kind = "int"
    elif typ == "number":
        kind = "float"
    elif typ == "boolean":
        kind = "bool"
    elif typ == "string":
        kind = "text"
    else:  # objects and lists of objects: JSON
        kind = "json"
    bounds: dict[str, Any] = {}
    for key, attr, exclusive in (("minimum", "minimum", False), ("exclusiveMinimum", "minimum", True),
                                 ("maximum", "maximum", False), ("exclusiveMaximum", "maximum", True)):
        if key in node:
            bounds[attr] = node[key]
            bounds[f"{attr}_exclusive"] = exclusive
    for key, attr in (("minLength", "min_length"), ("maxLength", "max_length"), ("minProperties", "min_length"),
                      ("maxProperties", "max_length"), ("minItems", "min_items"), ("maxItems", "max_items")):
        if key in node:
            bounds[attr] = node[key]
    title = node.get("title") or prop.get("title") or name
    if title == name.replace("_", " ").title():  # pydantic's title of the name: in words, as a sentence
        title = name.replace("_", " ").capitalize()
    return BodyField(name=name, kind=kind, title=title, help=node.get("description", ""),
                     required=required, nullable=nullable, default=node.get("default"), choices=choices,
                     titles=titles, **bounds)


@functools.cache
def body_fields(model: type[BaseModel]) -> dict[str, BodyField]:
    """The fields of a request body, in its order, as its JSON schema publishes them (a field kept
    out of the schema, such as an admin's ``owner``, is not a form's field)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    return {name: _field(name, prop, name in required, defs) for name, prop in schema["properties"].items()}

