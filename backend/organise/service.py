"""Edits of a name, tags and a note (runs, sweeps, studies, searches), with their audit record, and
members' stars on runs. Routes decide who may; this applies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.tables import Run, RunStar, RunTag, Search, Study, Sweep, User
from backend.identity.service import record
from backend.organise.schemas import OrganiseEdit

Organised = Run | Sweep | Study | Search
KINDS: dict[type[Any], str] = {Run: "run", Sweep: "sweep", Study: "study", Search: "search"}


def note_attr(thing: Organised) -> str:
    """Where the owner's note lives: a search's ``note`` is the system's words, its owner's is ``user_note``."""
    return "user_note" if isinstance(thing, Search) else "note"


def tags_of(thing: Organised) -> list[str]:
    return list(thing.tags or [])


def _set_tags(thing: Organised, tags: list[str]) -> None:
    if isinstance(thing, Run):
        kept = {row.tag: row for row in thing.tag_rows}  # a kept tag keeps its row
        thing.tag_rows = [kept.get(tag) or RunTag(tag=tag) for tag in tags]
    else:
        thing.tags = tags


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def edit(session: Session, actor: User, thing: Organised, body: OrganiseEdit) -> list[str]:
    """Apply the fields ``body`` gives; record what changed, in a line, when anything did. The
    caller commits. Returns the changes in words (empty: nothing changed)."""
    given = body.model_fields_set
    changes: list[str] = []
    if "name" in given and body.name is not None and body.name != thing.name:
        changes.append(f"name {_short(thing.name)!r} → {_short(body.name)!r}")
        thing.name = body.name
    if "tags" in given:
        old, new = set(tags_of(thing)), set(body.tags or [])
        if old != new:
            words = [f"+{t}" for t in sorted(new - old)] + [f"-{t}" for t in sorted(old - new)]
            changes.append("tags " + " ".join(words))
            _set_tags(thing, sorted(new))
    if "note" in given:
        attr = note_attr(thing)
        old_note: str | None = getattr(thing, attr)
        if old_note != body.note:
            changes.append("note cleared" if body.note is None else
                           f"note {'written' if old_note is None else 'edited'} ({len(body.note.encode()):,} bytes)")
            setattr(thing, attr, body.note)
    if changes:
        kind = KINDS[type(thing)]
        record(session, actor, f"{kind}.edit", kind, thing.id, f"{kind} {thing.id}: " + "; ".join(changes))
    return changes


@dataclass(frozen=True)
class Stars:
    """A run's stars: how many members starred it, and whether the caller did (None: no caller —
    the event streams' summaries are shared by every viewer)."""

    count: int = 0
    starred: bool | None = None


def stars_of(session: Session, run_ids: Iterable[int], user_id: int | None) -> dict[int, Stars]:
    """The stars of these runs, in one query (a run without any is absent: Stars(0, False/None))."""
    ids = list(set(run_ids))
    if not ids:
        return {}
    mine = func.max(case((RunStar.user_id == user_id, 1), else_=0)) if user_id is not None else func.max(0)
    rows = session.execute(select(RunStar.run_id, func.count(), mine).where(RunStar.run_id.in_(ids))
                           .group_by(RunStar.run_id)).all()
    return {run_id: Stars(count, bool(starred) if user_id is not None else None) for run_id, count, starred in rows}


def no_stars(user_id: int | None) -> Stars:
    return Stars(0, False if user_id is not None else None)


def star(session: Session, user: User, run: Run) -> None:
    """Idempotent: starring a starred run changes nothing (two at once: one row)."""
    if session.get(RunStar, (user.id, run.id)) is not None:
        return
    session.add(RunStar(user_id=user.id, run_id=run.id))
    try:
        session.commit()
    except IntegrityError:  # the same star, written meanwhile by another request
        session.rollback()


def unstar(session: Session, user: User, run: Run) -> None:
    session.execute(delete(RunStar).where(RunStar.user_id == user.id, RunStar.run_id == run.id))
    session.commit()
