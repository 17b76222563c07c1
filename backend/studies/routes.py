"""Studies: saved sets of run configs, launched as a whole, reported side by side."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from backend.api.deps import study_or_404
from backend.api.templates import export_page
from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES, ErrorBody, field_error
from backend.core.limits import INT_MAX, StudyId
from backend.core.markdown import render_note
from backend.core.tables import Run, Study, StudyLaunch
from backend.identity.rules import AUTH_RESPONSES, CONFLICT, Member, check_owner_field, require_owner
from backend.runs import admission
from backend.studies import service as study_service
from backend.studies.conclusions import CLAIM_KINDS, claim_problem
from backend.studies.report import build_report, table_csv
from backend.studies.schemas import (
    Claim,
    LaunchCreate,
    LaunchPublic,
    StudiesPublic,
    StudyCreate,
    StudyEntry,
    StudyPublic,
    StudyReport,
)

router = APIRouter(prefix="/api/studies", tags=["studies"], responses=AUTH_RESPONSES)


def launch_public(launch: StudyLaunch, finished: int) -> LaunchPublic:
    run_ids: dict[str, list[int | None]] = {}
    for link in sorted(launch.runs, key=lambda link: (link.entry_key, link.repeat)):
        run_ids.setdefault(link.entry_key, []).append(link.run_id)
    return LaunchPublic(id=launch.id, study_id=launch.study_id, owner=launch.owner.username,
                        epochs_scale=launch.epochs_scale, data_override=launch.data_override,
                        created_at=launch.created_at, runs={key: ids[0] for key, ids in run_ids.items()},
                        run_ids=run_ids, finished=finished)


def studies_public(session: Session, studies: list[Study]) -> list[StudyPublic]:
    finished = study_service.finished_by_launch(session, [launch.id for study in studies for launch in study.launches])
    return [
        StudyPublic(id=study.id, slug=study.slug, name=study.name, owner=study.owner.username,
                    description=study.description, entries=study.entries, claims=study.claims,
                    created_at=study.created_at, tags=list(study.tags or []), note=study.note,
                    note_html=render_note(study.note),
                    launches=[launch_public(launch, finished.get(launch.id, 0)) for launch in study.launches])
        for study in studies
    ]


def study_public(session: Session, study: Study) -> StudyPublic:
    return studies_public(session, [study])[0]


def check_claims(claims: list[Claim], entries: list[StudyEntry]) -> None:
    """Each claim names entries (or a group) of this study and gets what its kind reads (CLAIM_KINDS)."""
    keys = {e.key for e in entries}
    groups = {e.group for e in entries if e.group}
    for j, claim in enumerate(claims):
        where = f"claims[{j}]"
        for key in claim.keys:
            if key not in keys:
                raise field_error(f"{where}.keys", f"{key!r} is not the key of an entry")
        if len(set(claim.keys)) != len(claim.keys):
            raise field_error(f"{where}.keys", "names an entry twice")
        if CLAIM_KINDS[claim.kind].keys == "group" and claim.group not in groups:
            raise field_error(f"{where}.group", f"{claim.group!r} is not the group of any entry"
                                                + (f"; groups: {', '.join(sorted(groups))}" if groups else ""))
        problem = claim_problem(claim.kind, len(claim.keys), claim.expected)
        if problem:
            raise field_error(f"{where}.{problem[0]}", problem[1])


def check_entries(body: StudyCreate, field_of: Callable[[int], str] | None = None) -> list[dict[str, Any]]:
    """The entries as stored: each config as validated, in full, so that launching the study
    again gives the same runs whatever later defaults become. ``field_of(i)`` names where an
    entry's config came from (for a study made of runs: run_ids[i])."""
    entries = body.entries or []
    if not entries:
        raise field_error("entries", "needs at least one entry")
    keys: set[str] = set()
    stored = []
    for i, entry in enumerate(entries):
        if entry.key in keys:
            raise field_error(f"entries[{i}].key", f"duplicate key {entry.key!r}")
        keys.add(entry.key)
        where = field_of(i) if field_of else f"entries[{i}].config"
        config = admission.checked_config(entry.config, where)
        if not config.test_each_epoch:  # its claims read test curves (overfitting onset, peaks, early halves)
            raise field_error(where if field_of else f"{where}.test_each_epoch",
                              "a study judges its runs' test curves epoch by epoch, so its runs read the test set "
                              "every epoch (test_each_epoch on); this one reads it only at its end")
        stored.append({**entry.model_dump(mode="json"), "config": config.model_dump(mode="json")})
    for i, entry in enumerate(entries):
        if entry.baseline is not None and (entry.baseline not in keys or entry.baseline == entry.key):
            raise field_error(f"entries[{i}].baseline", f"{entry.baseline!r} is not the key of another entry")
    check_claims(body.claims, entries)
    return stored


@router.get("", response_model=StudiesPublic)
def read_studies(session: SessionDep, _identity: Member) -> StudiesPublic:
    """Shipped studies first, then users' studies, newest first."""
    return StudiesPublic(data=studies_public(session, study_service.all_studies(session)))


@router.post("", status_code=201, response_model=StudyPublic,
             responses={404: {"model": ErrorBody, "description": "A run of run_ids does not exist"}})
def create_study(body: StudyCreate, session: SessionDep, identity: Member) -> StudyPublic:
    """From run configs (``entries``), or from existing runs (``run_ids``, anyone's: a lab shares
    results): their configs become the entries and the runs themselves the study's first launch,
    so its report is there at once. The study is the caller's."""
    check_owner_field(identity, body.owner)
    given = body.model_fields_set & {"entries", "run_ids"}  # a key sent as null counts as given
    if len(given) != 1:
        raise field_error("entries", "give either entries (run configs) or run_ids (existing runs), not both")
    adopted: list[Run] = []
    if body.run_ids is not None:
        if not body.run_ids:
            raise field_error("run_ids", "needs at least one run id")
        adopted = study_service.runs_to_adopt(session, body.run_ids)
        body = StudyCreate.model_validate({**body.model_dump(exclude={"run_ids", "entries"}), "entries": [
            {"key": study_service.adopted_key(r), "label": r.name, "config": r.config} for r in adopted]})
    entries = check_entries(body, field_of=(lambda i: f"run_ids[{i}]") if adopted else None)
    study = study_service.create_study(session, identity.user, body.name, body.description, entries,
                                       [c.model_dump(mode="json") for c in body.claims], adopted)
    return study_public(session, study)


@router.get("/{study_id}", response_model=StudyPublic)
def read_study(study_id: StudyId, session: SessionDep, _identity: Member) -> StudyPublic:
    return study_public(session, study_or_404(session, study_id))


@router.delete("/{study_id}", status_code=204, responses=CONFLICT)
def delete_study(study_id: StudyId, session: SessionDep, identity: Member) -> None:
    """The study's owner or an admin deletes it and its launches; the runs stay. Recorded."""
    study = study_or_404(session, study_id)
    if study.slug is not None:
        raise HTTPException(409, f"Study {study_id} ships with cnnlab and cannot be deleted")
    require_owner(identity, study.owner, f"study {study_id}", "delete")
    study_service.delete_study(session, study, identity.user)


@router.post("/{study_id}/launches", status_code=201, response_model=LaunchPublic, responses=QUOTA_RESPONSES)
def launch_study(study_id: StudyId, body: LaunchCreate, session: SessionDep, identity: Member) -> LaunchPublic:
    """Anyone launches any study: one run per entry and repeat (seeds seed, seed+1, …; each entry's
    repeats one run group), the caller's, each entry's epochs scaled (at least 1); all are validated
    first, and the caller's quotas count every run."""
    check_owner_field(identity, body.owner)
    study = study_or_404(session, study_id)
    assert identity.user is not None  # Member: a signed-in user
    launch = study_service.launch_study(session, identity.user, study, body.epochs_scale, body.data)
    return launch_public(launch, study_service.finished_by_launch(session, [launch.id]).get(launch.id, 0))


LaunchQuery = Query(None, ge=1, le=INT_MAX, description="a launch id of this study; the latest when omitted")


@router.get("/{study_id}/report", response_model=StudyReport)
def read_report(
    study_id: StudyId, session: SessionDep, _identity: Member, launch: int | None = LaunchQuery,
    images: bool = Query(True, description="false: leave out the class reports (for polling)"),
) -> StudyReport:
    """Curves, the side-by-side table, the computed conclusions and the class reports of a launch."""
    study = study_or_404(session, study_id)
    return StudyReport.model_validate(
        build_report(session, study, study_service.launch_of(session, study, launch), class_reports=images))


def export_name(study: Study, report: dict[str, Any], ext: str) -> str:
    launch = report["launch"]["id"] if report["launch"] else "none"
    return f"study-{study.slug or study.id}-launch-{launch}.{ext}"


@router.get("/{study_id}/report.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "The report's table"}})
def read_report_csv(
    study_id: StudyId, session: SessionDep, _identity: Member, launch: int | None = LaunchQuery
) -> Response:
    study = study_or_404(session, study_id)
    report = build_report(session, study, study_service.launch_of(session, study, launch), class_reports=False)
    return Response(table_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{export_name(study, report, "csv")}"'})


@router.get("/{study_id}/report.html", response_class=HTMLResponse)
def read_report_html(
    request: Request, study_id: StudyId, session: SessionDep, _identity: Member, launch: int | None = LaunchQuery
) -> HTMLResponse:
    """The whole report as one self-contained file: Plotly, styles, scripts and data inline,
    images as data: URIs — it opens offline, from disk, years later."""
    study = study_or_404(session, study_id)
    report = build_report(session, study, study_service.launch_of(session, study, launch))
    data = (json.dumps(report, allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    response = export_page(request, "study_export.html", title=f"{study.name} · report", report_json=data)
    response.headers["Content-Disposition"] = f'attachment; filename="{export_name(study, report, "html")}"'
    # its scripts are inline by design (it opens from disk); it still reaches nothing outside itself
    response.headers["Content-Security-Policy"] = EXPORT_CSP
    return response


EXPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
              "font-src data:; frame-ancestors 'none'")
