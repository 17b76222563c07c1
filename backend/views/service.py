"""Saved views, each its user's own: made, listed, replaced and deleted by that user only."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.errors import QuotaExceeded, Refusal
from backend.core.tables import SavedView, User, utcnow
from backend.runs import query as run_query
from backend.runs.service import sort_column
from backend.views.schemas import VIEWS_MAX, ViewBody


def checked(body: ViewBody) -> ViewBody:
    """The body with its query, columns and sort checked by the runs list's rules (422 naming
    ``query`` with the token and its position, ``columns`` or ``sort``), columns' aliases resolved."""
    run_query.check(body.query, "query")
    columns = run_query.check_columns(body.columns, "columns")
    sort_column(body.sort, "sort")
    return body.model_copy(update={"columns": columns})


def views_of(session: Session, user: User) -> Sequence[SavedView]:
    return session.scalars(select(SavedView).where(SavedView.user_id == user.id)
                           .order_by(func.lower(SavedView.name), SavedView.id)).all()


def own_view(session: Session, user: User, view_id: int) -> SavedView:
    """The user's view; another user's is as absent as one that does not exist (404)."""
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user.id:
        raise HTTPException(404, f"You have no saved view {view_id}")
    return view


def _taken(name: str) -> Refusal:
    return Refusal("name", f"you already have a view named {name!r}; choose another name or replace that one", 409)


def _name_free(session: Session, user: User, name: str, but: int | None = None) -> None:
    stmt = select(SavedView.id).where(SavedView.user_id == user.id, SavedView.name == name)
    if but is not None:
        stmt = stmt.where(SavedView.id != but)
    if session.scalar(stmt) is not None:
        raise _taken(name)


def _commit(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same name saved by a request that landed meanwhile
        session.rollback()
        raise _taken(name) from None


def create(session: Session, user: User, body: ViewBody) -> SavedView:
    body = checked(body)
    count = session.scalar(select(func.count()).select_from(SavedView).where(SavedView.user_id == user.id)) or 0
    if count >= VIEWS_MAX:
        raise QuotaExceeded("saved_views", VIEWS_MAX, count,
                            f"you keep {count} saved views, the most one user may; delete one first")
    _name_free(session, user, body.name)
    view = SavedView(user_id=user.id, name=body.name, query=body.query, columns=body.columns, sort=body.sort)
    session.add(view)
    _commit(session, body.name)
    session.refresh(view)
    return view


def replace(session: Session, user: User, view_id: int, body: ViewBody) -> SavedView:
    view = own_view(session, user, view_id)
    body = checked(body)
    _name_free(session, user, body.name, but=view.id)
    view.name, view.query, view.columns, view.sort = body.name, body.query, body.columns, body.sort
    view.updated_at = utcnow()
    _commit(session, body.name)
    session.refresh(view)
    return view


def delete(session: Session, user: User, view_id: int) -> None:
    session.delete(own_view(session, user, view_id))
    session.commit()
