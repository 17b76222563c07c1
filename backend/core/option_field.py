"""``option()``: a pydantic field that also says how people set it.

Besides pydantic's own type, default, limits, title (the label) and description (the help), a
run option declares the form group it belongs to, whether the form folds it under "Advanced",
its unit and the yes/no option it needs on (if any). They travel in the field's JSON schema as
``x-group``, ``x-advanced``, ``x-unit`` and ``x-requires``, so the API schema, the CLI (``worker.flags``)
and the new-run form (``backend.training.options``) all read the same declaration.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

Group = Literal["architecture", "optimisation", "augmentation", "evaluation", "budget", "data"]
GROUPS: tuple[Group, ...] = ("architecture", "optimisation", "augmentation", "evaluation", "budget", "data")


def option(
    default: Any = ...,
    *,
    title: str,
    group: Group,
    help: str | None = None,
    unit: str | None = None,
    advanced: bool = False,
    requires: str | None = None,
    default_factory: Any = None,
    json_schema_extra: dict[str, Any] | None = None,
    **limits: Any,
) -> Any:
    """A ``Field`` carrying the option's form and CLI metadata (see the module docstring)."""
    extra: dict[str, Any] = {"x-group": group, "x-advanced": advanced, **(json_schema_extra or {})}
    if unit:
        extra["x-unit"] = unit
    if requires:  # a yes/no option this one only means something with (the form disables it without)
        extra["x-requires"] = requires
    if default_factory is not None:
        return Field(default_factory=default_factory, title=title, description=help, json_schema_extra=extra,
                     **limits)
    return Field(default, title=title, description=help, json_schema_extra=extra, **limits)
