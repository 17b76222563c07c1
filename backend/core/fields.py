"""Field types that every feature's request and response bodies share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict


def as_utc(moment: datetime) -> datetime:
    """Every datetime leaves in UTC with its offset: SQLite hands them back without a zone
    (they were written in UTC), PostgreSQL in the session's zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]

OWNER_HELP = "the caller's username, or left out: what you make belongs to you (another name is refused)"

STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, strict=True)
