"""Saved views: the body that makes or replaces one, and the view as the API answers it."""

from __future__ import annotations

from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.core.fields import UTCDateTime
from backend.runs.query import MAX_COLUMNS, MAX_QUERY

NAME_MAX = 80  # saved_views.name is String(80)
SORT_MAX = 100  # saved_views.sort is String(100)
COLUMN_MAX = 100  # characters of one column name
VIEWS_MAX = 200  # views one user keeps
DEFAULT_SORT = "-created_at"


class ViewBody(BaseModel):
    """A view to save (POST) or the whole new view (PUT): its query, columns and sort are checked by
    the runs list's own rules (backend.runs.query), so a saved view always opens."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=NAME_MAX, description=f"1 to {NAME_MAX} characters, unique per user")
    query: str = Field("", max_length=MAX_QUERY, description="the runs query (GET /api/runs?q=)")
    columns: list[str] = Field(default_factory=list, max_length=MAX_COLUMNS, description=(
        f"the chosen columns (at most {MAX_COLUMNS}): run options by dotted path or results"))
    sort: str = Field(DEFAULT_SORT, min_length=1, max_length=SORT_MAX, description="as the list's sort")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must hold more than spaces")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not hold control characters (line breaks, tabs, NUL)")
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if len(name) > COLUMN_MAX:
                raise ValueError(f"column {i + 1} is over {COLUMN_MAX} characters")
        return value


def list_url(query: str, columns: list[str], sort: str) -> str:
    """The runs list showing a view: its query, columns and sort in the address (a view is a link)."""
    params = {"q": query, "columns": ",".join(columns), "sort": "" if sort == DEFAULT_SORT else sort}
    encoded = urlencode({k: v for k, v in params.items() if v})
    return "/" + ("?" + encoded if encoded else "")


class ViewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    query: str
    columns: list[str]
    sort: str
    created_at: UTCDateTime
    updated_at: UTCDateTime
    url: str = Field("", description="the runs list showing it: /?q=…&columns=…&sort=…")


class ViewsPublic(BaseModel):
    data: list[ViewPublic]
    count: int


def view_public(view: object) -> ViewPublic:
    model = ViewPublic.model_validate(view)
    model.url = list_url(model.query, model.columns, model.sort)
    return model



