"""Errors, declared once: the body of every refusal of a field (``field_detail``, the one builder of
``{"detail": [{"field", "message"}]}``) and every exception of the lab that says why something
cannot go on. ``backend.main`` maps them to HTTP, once for every route.

Pydantic and the standard library only, no web framework: the worker imports this module too
(``backend.architecture`` raises ArchitectureError), and must not load FastAPI or SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(description="the dotted path of what was refused, e.g. config.architecture.stages[0]")
    message: str = Field(description="why, with the limit")
    limit: int | None = Field(None, description="quotas: the quota's limit")
    current: int | None = Field(None, description="quotas: the caller's current count")


class ErrorBody(BaseModel):
    """Every refusal of a field (422, 413, 429): which field, and why."""

    detail: list[FieldError]


QUOTA_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "Over a quota of the lab: nothing was queued"}}


def field_detail(field: str, message: str, *, limit: int | None = None,
                 current: int | None = None) -> list[dict[str, Any]]:
    """The ``detail`` of every refusal of a field (ErrorBody): which field and why; a quota's
    refusal adds its limit and the caller's current count."""
    item: dict[str, Any] = {"field": field, "message": message}
    if limit is not None:
        item["limit"] = limit
    if current is not None:
        item["current"] = current
    return [item]


class Refusal(Exception):
    """A request refused on one field: HTTP ``status`` (422 unless said) with the body
    ``{"detail": [{"field", "message"}]}`` (backend.main), and ``headers`` (a Retry-After)."""

    def __init__(self, field: str, message: str, status: int = 422, *, limit: int | None = None,
                 current: int | None = None, headers: dict[str, str] | None = None, text: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if text is None else text)
        self.field, self.message, self.status = field, message, status
        self.limit, self.current, self.headers = limit, current, headers

    def detail(self) -> list[dict[str, Any]]:
        return field_detail(self.field, self.message, limit=self.limit, current=self.current)


def field_error(field: str, message: str, status: int = 422) -> Refusal:
    """A route's refusal of ``field`` (raise it): ``status`` with the error body."""
    return Refusal(field, message, status)


class Refused(Refusal, ValueError):
    """A run (or the body asking for it) that may not be admitted (backend.runs.admission):
    ``status`` (422) naming the field."""


class QuotaExceeded(Refusal):
    """Admitting the runs would pass one of the lab's quotas: 429 naming ``quota.<quota>``, its
    limit and the caller's count; nothing was queued."""

    def __init__(self, quota: str, limit: int, current: int, message: str) -> None:
        super().__init__(f"quota.{quota}", message, 429, limit=limit, current=current, text=message)
        self.quota = quota


class Invalid(Refusal, ValueError):
    """A worker's report that is well-formed but impossible for its run: 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, text=message)


class UserError(Refusal, ValueError):
    """A request about users that cannot be done as asked (backend.identity.service): ``field``
    names what is wrong; ``status`` 422, or 409 for a conflict with what is (a name taken)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(field, message, status, text=message)


class NotAnImage(Refusal, ValueError):
    """An upload to classify that is not a readable image: 422 naming the file."""

    def __init__(self, index: int, filename: str, why: str) -> None:
        super().__init__(f"files[{index}]", f"{filename!r} is not a readable image ({why})",
                         text=f"files[{index}] ({filename}): {why}")


class ModelUnreadable(Refusal):
    """A stored model file that onnxruntime cannot load (damaged on disk after its checked upload):
    409 on ``model``, saying to export it again."""

    def __init__(self, run_id: int, why: str) -> None:
        super().__init__("model", f"run {run_id}'s stored model cannot be loaded ({why}); export it again", 409)


class ArchitectureError(Refusal, ValueError):
    """A network description that cannot be built (backend.architecture). ``field`` is the dotted
    path of the culprit, within the description."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class Conflict(Exception):
    """The request is valid but the state refuses it (finished, running, superseded lease, an
    export already made): 409 with the message."""


class NoCommonSeeds(ValueError):
    """Two groups of repeats share no seed, so they cannot be paired (backend.runs.uncertainty)."""


class SignInRequired(Exception):
    """A page asked for without a signed-in user: a redirect to /login, then back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class StartupRefused(SystemExit):
    """The backend must not start as configured; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
