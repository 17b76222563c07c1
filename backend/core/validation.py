"""Turn pydantic errors into (field, message) pairs whose field is the full dotted path.

Validators of nested objects raise ``"stages[0][0]: width must be ..."``; the location pydantic
reports is the enclosing field (``architecture``), so the two are joined:
``architecture.stages[0][0]``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

_INNER_FIELD = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*): (.*)$", re.S
)
# The tags of the discriminated unions the models declare (pydantic puts them in an error's location,
# where they are not fields); each union adds its own where it is declared (architecture families).
UNION_TAGS: set[str] = set()


def field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and (part in UNION_TAGS or part.startswith("function-")):
            continue  # union tags and validator wrappers, not fields
        else:
            path += ("." if path else "") + str(part)
    return path


def describe_errors(exc: ValidationError | list[Any], drop_prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """``[{field, message}]`` for each error; ``drop_prefix`` strips leading loc parts (FastAPI's "body")."""
    out = []
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    for err in errors:
        if err.get("loc") and err["loc"][0] in drop_prefix:
            err = {**err, "loc": tuple(err["loc"][1:])}
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        path = field_path(tuple(err.get("loc", ())))
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            tag = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
            path = f"{path}.{tag}" if path else tag
        inner = _INNER_FIELD.match(message)
        if inner:
            path = f"{path}.{inner.group(1)}" if path else inner.group(1)
            message = inner.group(2)
        if "input" in err and err["type"] in ("greater_than", "greater_than_equal", "less_than",
                                               "less_than_equal", "literal_error", "int_type",
                                               "float_type", "int_parsing", "float_parsing"):
            message = f"{message}, got {err['input']!r}"
        out.append({"field": path or "body", "message": message})
    return out
