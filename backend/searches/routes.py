"""Searches: start one, follow it (its trials, figures and event stream), stop, resume, delete.

Reading is for every member (like runs); a search's trials are the owner's runs, and only the
owner or an admin stops, resumes or deletes it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.sse import EventSourceResponse
from optuna.trial import FrozenTrial
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.api.deps import search_or_404
from backend.api.streams import KEEPALIVE_S, RETRY, StreamMember, event_stream, sse, stream_responses
from backend.core import events
from backend.core.db import SessionDep, SessionLocal
from backend.core.errors import QUOTA_RESPONSES, Conflict
from backend.core.limits import SearchId
from backend.core.tables import Run, Search
from backend.identity.rules import AUTH_RESPONSES, CONFLICT, Member, check_owner_field, require_owner
from backend.identity.service import record
from backend.runs import live
from backend.searches import engine, winner
from backend.searches.figures import figures
from backend.searches.presets import SEARCH_PRESETS
from backend.searches.schemas import (
    SearchCreate,
    SearchDetail,
    SearchesPublic,
    SearchFigures,
    SearchPreset,
    SpaceKey,
    WinnerCreate,
)
from backend.searches.space import space_keys
from backend.searches.views import search_public, trials_of

router = APIRouter(prefix="/api/searches", tags=["searches"], responses=AUTH_RESPONSES)


def detail_of(session: Session, search: Search, trials: list[FrozenTrial] | None = None) -> SearchDetail:
    out = search_public(session, search, detail=True, trials=trials)
    assert isinstance(out, SearchDetail)
    return out


@router.post("", status_code=201, response_model=SearchDetail, responses=QUOTA_RESPONSES)
def create_search(body: SearchCreate, session: SessionDep, identity: Member) -> SearchDetail:
    """Checked whole before anything is made (422 naming the field and the limit); then its first
    trials are asked for and queued, the caller's runs."""
    check_owner_field(identity, body.owner)
    assert identity.user is not None  # Member: a signed-in user
    search = engine.create(session, identity.user, body)
    return detail_of(session, search)


@router.get("", response_model=SearchesPublic)
def list_searches(session: SessionDep, _identity: Member, limit: int = Query(50, ge=1, le=500),
                  offset: int = Query(0, ge=0, le=2**31 - 1)) -> SearchesPublic:
    count = session.scalar(select(func.count()).select_from(Search)) or 0
    rows = session.scalars(select(Search).order_by(Search.id.desc()).limit(limit).offset(offset)).all()
    return SearchesPublic(data=[search_public(session, s) for s in rows], count=count)


@router.get("/presets", response_model=list[SearchPreset])
def list_presets(_identity: Member) -> list[SearchPreset]:
    """Shipped searches (POST bodies) to start from."""
    return list(SEARCH_PRESETS.values())


@router.get("/space-keys", response_model=list[SpaceKey])
def list_space_keys(_identity: Member) -> list[SpaceKey]:
    """Every name a space may use: the run options and the architecture knobs, with their limits
    and the families that have them."""
    return [SpaceKey(**k) for k in space_keys()]


@router.get("/{search_id:int}", response_model=SearchDetail)
def read_search(search_id: SearchId, session: SessionDep, _identity: Member) -> SearchDetail:
    return detail_of(session, search_or_404(session, search_id))


@router.get("/{search_id:int}/figures", response_model=SearchFigures, response_model_exclude_unset=True)
def read_figures(search_id: SearchId, session: SessionDep, _identity: Member) -> SearchFigures:
    """Plotly figures (JSON) of the page: Optuna's history, importances, parallel coordinates and
    intermediate values, and the Pareto fronts against parameters and MACs; ``notes`` says why a
    figure is missing."""
    search = search_or_404(session, search_id)
    trials = trials_of(search)
    detail = detail_of(session, search, trials)
    key = (search_id, detail.model_dump_json(include={"trials", "counts"}))
    with _figures_lock:
        cached = _figures.get(key)
    if cached is None:  # drawn again only when a trial moved (Optuna's importances are not free)
        cached = figures(detail, trials)
        with _figures_lock:
            _figures[key] = cached
            while len(_figures) > 32:
                _figures.pop(next(iter(_figures)))
    return SearchFigures.model_validate(cached)  # the figures drawn, only: a missing one is absent, not null


_figures: dict[tuple[int, str], dict[str, Any]] = {}
_figures_lock = threading.Lock()


@router.post("/{search_id:int}/stop", response_model=SearchDetail, responses=CONFLICT)
def stop_search(search_id: SearchId, session: SessionDep, identity: Member) -> SearchDetail:
    """The owner or an admin: no new trials, its queued and running trials cancelled."""
    search = search_or_404(session, search_id)
    require_owner(identity, search.owner, f"search {search_id}", "stop")
    assert identity.user is not None
    engine.stop(session, search, identity.user)
    record(session, identity.user, "search.stop", "search", search_id, f"search {search_id} ({search.name}) stopped")
    session.commit()
    session.refresh(search)
    return detail_of(session, search)


@router.post("/{search_id:int}/resume", response_model=SearchDetail, responses={**CONFLICT, **QUOTA_RESPONSES})
def resume_search(search_id: SearchId, session: SessionDep, identity: Member) -> SearchDetail:
    """The owner or an admin: asks for trials again, up to its n_trials."""
    search = search_or_404(session, search_id)
    require_owner(identity, search.owner, f"search {search_id}", "resume")
    assert identity.user is not None
    engine.resume(session, search)
    record(session, identity.user, "search.resume", "search", search_id, f"search {search_id} resumed")
    session.commit()
    session.refresh(search)
    return detail_of(session, search)


@router.post("/{search_id:int}/winner", status_code=201, response_model=SearchDetail,
             responses={**CONFLICT, **QUOTA_RESPONSES})
def train_winner(search_id: SearchId, body: WinnerCreate, session: SessionDep, identity: Member) -> SearchDetail:
    """The owner or an admin: "Train the winner" — the best configuration and the lab's best preset
    (compact with the 15-minute recipe), ``seeds`` paired seeds each, at the search's full budget (its
    last rung) on the whole training split, as two groups of repeats of the caller's; the search then
    shows their paired comparison on the last epoch's test accuracy. 409 before any trial has
    finished, or while an earlier launch still trains."""
    search = search_or_404(session, search_id)
    require_owner(identity, search.owner, f"search {search_id}", "train the winner of")
    assert identity.user is not None
    best = detail_of(session, search).best
    if best is None:
        raise Conflict(f"search {search_id} has no finished trial yet: nothing to train")
    winner.launch(session, search, best, identity.user, body.seeds)
    record(session, identity.user, "search.winner", "search", search_id,
           f"search {search_id}: winner (trial {best.number}) against {winner.BASELINE_LABEL}, {body.seeds} seeds")
    session.commit()
    events.search_changed(search_id)  # its streams follow the new runs from now on
    session.refresh(search)
    return detail_of(session, search)


@router.delete("/{search_id:int}", status_code=204)
def delete_search(search_id: SearchId, session: SessionDep, identity: Member) -> None:
    """The owner or an admin: the search and its Optuna study go; its runs stay as ordinary runs
    (cancelled first if still queued or running)."""
    search = search_or_404(session, search_id)
    require_owner(identity, search.owner, f"search {search_id}", "delete")
    assert identity.user is not None
    name = search.name
    engine.delete(session, search, identity.user)
    record(session, identity.user, "search.delete", "search", search_id, f"search {search_id} ({name}) deleted")
    session.commit()


@router.get("/{search_id:int}/events", responses=stream_responses("The search's event stream"))
async def read_search_events(search_id: SearchId, request: Request, identity: StreamMember) -> EventSourceResponse:
    """Server-Sent Events: a `search` event (the search's summary) whenever it or one of its trial
    runs changes — an epoch recorded, a trial asked, told or pruned — and `deleted` when it goes."""
    snapshots: live.Snapshots = request.app.state.snapshots
    body, _ = await _search_snapshot(snapshots, search_id, [])
    if body is None:
        raise HTTPException(404, f"Search {search_id} not found")
    return event_stream(identity, _events(search_id, snapshots))


def _snapshot(search_id: int) -> tuple[str | None, list[int]]:
    with SessionLocal() as session:
        search = session.get(Search, search_id)
        if search is None:
            return None, []
        groups = [g for g in (search.winner_group_id, search.baseline_group_id) if g is not None]
        run_ids = list(session.scalars(select(Run.id).where(  # its trials, and the winner's side by side
            (Run.search_id == search_id) | Run.group_id.in_(groups)).order_by(Run.id)).all())
        return search_public(session, search).model_dump_json(), run_ids


def _topics(search_id: int, run_ids: list[int]) -> list[str]:
    return [events.search_topic(search_id), *(events.run_topic(i) for i in run_ids)]


async def _search_snapshot(snapshots: live.Snapshots, search_id: int,
                           run_ids: list[int]) -> tuple[str | None, list[int]]:
    """Shared by the search's streams; keyed by the search and the trial runs it had last time, so
    a change of any of them (or a new trial, which changes the search) builds it again."""
    versions = events.board.versions(_topics(search_id, run_ids))
    return await snapshots.get(f"{events.search_topic(search_id)}:{','.join(map(str, run_ids))}", versions,
                               lambda: _snapshot(search_id))


async def _events(search_id: int, snapshots: live.Snapshots) -> AsyncIterator[bytes]:
    yield RETRY
    sent, run_ids = "", list[int]()
    async with events.board.watch(_topics(search_id, run_ids)) as watch:
        while True:
            watch.versions()
            body, now_ids = await _search_snapshot(snapshots, search_id, run_ids)
            if body is None:
                yield sse("deleted", json.dumps({"id": search_id}))
                return
            if now_ids != run_ids:  # trials came (or went): follow their runs too
                run_ids = now_ids
                watch.retopic(_topics(search_id, run_ids))
                continue
            if body != sent:
                yield sse("search", body)
                sent = body
            await watch.wait(KEEPALIVE_S)
