"""/api/views: the caller's saved views of the runs list (each member sees and changes only their own;
another's view answers 404, admins included: a view is a personal bookmark, not a lab record)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES, ErrorBody
from backend.core.limits import INT_MAX
from backend.identity.rules import AUTH_RESPONSES, Member
from backend.views import service
from backend.views.schemas import ViewBody, ViewPublic, ViewsPublic, view_public

router = APIRouter(prefix="/api/views", tags=["views"], responses=AUTH_RESPONSES)

ViewId = Annotated[int, Path(ge=1, le=INT_MAX, description="a saved view's id")]
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {"description": "No view of the caller's has this id"}}
TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The caller already has a view of that name"}}


@router.get("", response_model=ViewsPublic)
def read_views(session: SessionDep, identity: Member) -> ViewsPublic:
    """The caller's saved views, by name, each with its runs-list link."""
    assert identity.user is not None  # Member: a signed-in user
    views = service.views_of(session, identity.user)
    return ViewsPublic(data=[view_public(v) for v in views], count=len(views))


@router.post("", status_code=201, response_model=ViewPublic, responses={**TAKEN, **QUOTA_RESPONSES})
def create_view(body: ViewBody, session: SessionDep, identity: Member) -> ViewPublic:
    """Save a view: its query, columns and sort must be ones the runs list takes (422 naming the
    token of a query that does not parse)."""
    assert identity.user is not None
    return view_public(service.create(session, identity.user, body))


@router.put("/{view_id}", response_model=ViewPublic, responses={**NOT_YOURS, **TAKEN})
def replace_view(view_id: ViewId, body: ViewBody, session: SessionDep, identity: Member) -> ViewPublic:
    assert identity.user is not None
    return view_public(service.replace(session, identity.user, view_id, body))


@router.delete("/{view_id}", status_code=204, responses=NOT_YOURS)
def delete_view(view_id: ViewId, session: SessionDep, identity: Member) -> None:
    assert identity.user is not None
    service.delete(session, identity.user, view_id)
