"""Input → description: a preset name or a JSON-like dict becomes a validated architecture."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from backend.architecture.description import AnyArchitecture, Architecture
from backend.architecture.presets import preset
from backend.core.errors import ArchitectureError
from backend.core.validation import describe_errors

_ADAPTER: TypeAdapter[AnyArchitecture] = TypeAdapter(Architecture)


def parse_architecture(data: Any) -> AnyArchitecture:
    """A preset name or a JSON-like dict → a validated description (or ArchitectureError)."""
    if isinstance(data, AnyArchitecture):  # the union itself: a new family needs no edit here
        return data
    if isinstance(data, str):
        return preset(data)
    if isinstance(data, dict) and "family" not in data:
        data = {**data, "family": "plain"}
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = describe_errors(exc)[0]
        raise ArchitectureError(first["field"], first["message"]) from None
