"""Organise: rename, tag and annotate runs, sweeps, studies and searches (their owner or an admin;
recorded in the audit), and star runs (any member, per member; not recorded: a star is a bookmark)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy.orm import Session

from backend.api.deps import get_run_or_404, search_or_404, study_or_404
from backend.api.templates import templates
from backend.core import events
from backend.core.db import SessionDep
from backend.core.limits import RunId, SearchId, StudyId, SweepId
from backend.core.tables import Sweep
from backend.identity.rules import AUTH_RESPONSES, CONFLICT, Identity, Member, require_owner
from backend.organise import service
from backend.organise.schemas import NAME_MAX, NOTE_MAX_BYTES, TAG_CHARS, TAG_MAX, TAGS_MAX, OrganiseEdit
from backend.runs.schemas import RunDetail, RunPublic, SweepPublic
from backend.runs.sweep_routes import sweep_public
from backend.runs.views import runs_public
from backend.searches.routes import detail_of
from backend.searches.schemas import SearchDetail
from backend.studies.routes import study_public
from backend.studies.schemas import StudyPublic

router = APIRouter(tags=["organise"], responses=AUTH_RESPONSES)
# the edit form's bounds (frontend/templates/_organise.html), read from their one declaration
templates.env.globals["organise_bounds"] = {"name_max": NAME_MAX, "tags_max": TAGS_MAX, "tag_max": TAG_MAX,
                                            "tag_chars": TAG_CHARS, "note_max_bytes": NOTE_MAX_BYTES}

EDIT_HELP = ("Any of name, tags (the full new list) and note (Markdown); what is left out stays. The owner or an "
             "admin; recorded in the audit. 422 names the field and its limit.")


def _edit(session: Session, identity: Identity, thing: service.Organised, what: str, body: OrganiseEdit) -> None:
    require_owner(identity, thing.owner, what, "edit")
    assert identity.user is not None  # Member: a signed-in user
    service.edit(session, identity.user, thing, body)
    session.commit()


def _run_detail(session: Session, identity: Identity, run_id: int) -> RunPublic:
    assert identity.user is not None
    return runs_public(session, [get_run_or_404(session, run_id)], identity.user.id, detail=True)[0]


@router.patch("/api/runs/{run_id:int}", response_model=RunDetail, description=EDIT_HELP)
def edit_run(run_id: RunId, body: OrganiseEdit, session: SessionDep, identity: Member) -> RunPublic:
    run = get_run_or_404(session, run_id)
    _edit(session, identity, run, f"run {run_id}", body)
    events.changed(run_id)  # the run's page and the runs list show its new name and tags
    return _run_detail(session, identity, run_id)


@router.put("/api/runs/{run_id:int}/star", response_model=RunDetail)
def star_run(run_id: RunId, session: SessionDep, identity: Member) -> RunPublic:
    """Any member stars any run (stars are per member); starring it again changes nothing."""
    assert identity.user is not None
    service.star(session, identity.user, get_run_or_404(session, run_id))
    return _run_detail(session, identity, run_id)


@router.delete("/api/runs/{run_id:int}/star", response_model=RunDetail)
def unstar_run(run_id: RunId, session: SessionDep, identity: Member) -> RunPublic:
    """The caller's star goes (none: nothing changes)."""
    assert identity.user is not None
    service.unstar(session, identity.user, get_run_or_404(session, run_id))
    return _run_detail(session, identity, run_id)


@router.patch("/api/sweeps/{sweep_id:int}", response_model=SweepPublic, description=EDIT_HELP)
def edit_sweep(sweep_id: SweepId, body: OrganiseEdit, session: SessionDep, identity: Member) -> SweepPublic:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"Sweep {sweep_id} not found")
    _edit(session, identity, sweep, f"sweep {sweep_id}", body)
    return sweep_public(session, sweep)


@router.patch("/api/studies/{study_id}", response_model=StudyPublic, responses=CONFLICT,
              description=EDIT_HELP + " A study that ships with cnnlab belongs to the system: an admin may tag it and "
                                      "write its note; its name is its definition's (409).")
def edit_study(study_id: StudyId, body: OrganiseEdit, session: SessionDep, identity: Member) -> StudyPublic:
    study = study_or_404(session, study_id)
    if study.slug is not None and "name" in body.model_fields_set and body.name != study.name:
        require_owner(identity, study.owner, f"study {study_id}", "edit")  # a member: 403 before the 409
        raise HTTPException(409, f"Study {study_id} ships with cnnlab: its name is its definition's and cannot be "
                                 "changed (tags and note can, by an admin)")
    _edit(session, identity, study, f"study {study_id}", body)
    return study_public(session, study)


@router.patch("/api/searches/{search_id:int}", response_model=SearchDetail,
              description=EDIT_HELP + " A search's note is `user_note` in its body (`note` is the system's).")
def edit_search(search_id: SearchId, body: OrganiseEdit, session: SessionDep, identity: Member) -> SearchDetail:
    search = search_or_404(session, search_id)
    _edit(session, identity, search, f"search {search_id}", body)
    events.search_changed(search_id)
    return detail_of(session, search)
