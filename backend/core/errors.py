"""Errors, declared once: the body of every refusal of a field, and the exceptions that say why
something cannot go on."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field


def field_error(field: str, message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, [{"field": field, "message": message}])


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


class StartupRefused(SystemExit):
    """The backend must not start as configured; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
