"""The bounds of a name, tags and a note, declared once, and the body that edits them (the same for
runs, sweeps, studies and searches)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

NAME_MAX = 200  # characters (the name columns are String(200))
TAGS_MAX = 20  # tags per run, sweep, study or search
TAG_MAX = 40  # characters a tag (run_tags.tag is String(40))
TAG_CHARS = "a-z, 0-9, '_', '.' and '-'"
TAG_PATTERN = re.compile(rf"^[a-z0-9_.-]{{1,{TAG_MAX}}}$")  # a tag as stored
TAG_INPUT = rf"^[A-Za-z0-9_.-]{{1,{TAG_MAX}}}$"  # as given: ASCII letters of either case (lower-cased)
NOTE_MAX_BYTES = 10_000  # of UTF-8
NOTE_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"  # a note keeps tabs and line breaks
CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
# what the OpenAPI document says of each field (the validators below say the same, in words)
NAME_PATTERN = f"^ *[^{CONTROL} ][^{CONTROL}]* *$"
NOTE_PATTERN = f"^[^{NOTE_CONTROL}]*$"


def has_control(text: str) -> bool:
    return re.search(f"[{CONTROL}]", text) is not None


def clean_name(value: str) -> str:
    name = value.strip(" ")
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"must be 1 to {NAME_MAX} characters (got {len(name)})")
    if has_control(name):
        raise ValueError("may not hold control characters (line breaks, tabs, NUL…)")
    return name


def clean_tags(values: list[str]) -> list[str]:
    """Lower-cased, duplicates removed, sorted; each 1..TAG_MAX of TAG_CHARS, at most TAGS_MAX given."""
    if len(values) > TAGS_MAX:
        raise ValueError(f"{len(values)} tags is over the limit of {TAGS_MAX}")
    out: set[str] = set()
    for i, raw in enumerate(values):
        if not re.fullmatch(TAG_INPUT, raw):  # fullmatch: "$" would let a trailing line break through
            raise ValueError(f"tag {i + 1} ({raw[:TAG_MAX + 10]!r}) must be 1 to {TAG_MAX} characters of {TAG_CHARS}")
        out.add(raw.lower())
    return sorted(out)


def clean_note(value: str | None) -> str | None:
    """None for an empty note (it clears); refused over NOTE_MAX_BYTES of UTF-8 or with control characters."""
    if value is None or not value.strip():
        return None
    size = len(value.encode("utf-8"))
    if size > NOTE_MAX_BYTES:
        raise ValueError(f"is {size:,} bytes (UTF-8), over the limit of {NOTE_MAX_BYTES:,} bytes")
    if re.search(f"[{NOTE_CONTROL}]", value):
        raise ValueError("may not hold control characters other than tabs and line breaks")
    return value


class OrganiseEdit(BaseModel):
    """PATCH body: any of name, tags, note; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # the bounds are checked by the validators (their messages name the limit) and stated in the schema
    name: str | SkipJsonSchema[None] = Field(None, description=f"1 to {NAME_MAX} characters, no control characters",
                             json_schema_extra={"minLength": 1, "maxLength": NAME_MAX, "pattern": NAME_PATTERN})
    tags: list[Annotated[str, WithJsonSchema({"type": "string", "pattern": TAG_INPUT})]] | None = Field(
        None, description=(f"the full new list (null or [] clears): at most {TAGS_MAX}, each 1 to {TAG_MAX} characters "
                           f"of {TAG_CHARS} (stored lower-cased, duplicates removed, sorted)"),
        json_schema_extra={"maxItems": TAGS_MAX})
    note: str | None = Field(None, description=(
        f"Markdown, at most {NOTE_MAX_BYTES:,} bytes of UTF-8, rendered as text formatting only; empty or null clears"),
        json_schema_extra={"maxLength": NOTE_MAX_BYTES, "pattern": NOTE_PATTERN})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("may not be null: leave it out to keep the name")
        return clean_name(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str]:
        return clean_tags(value or [])

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return clean_note(value)
