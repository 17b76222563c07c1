from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse

from backend.api.deps import checkpoint_or_404, get_run_or_404
from backend.api.streams import KEEPALIVE_S, RETRY, StreamMember, event_stream, sse, stream_responses
from backend.core import events
from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES, field_error
from backend.core.limits import INT_MAX, CheckpointKindPath, EpochQuery, RunId
from backend.core.statuses import FINISHED_STATUSES, ModelStatus, RunStatus, SelectedOn
from backend.core.tables import RunEvaluation
from backend.identity.rules import AUTH_RESPONSES, CONFLICT, Member, check_owner_field, require_owner
from backend.identity.service import record
from backend.runs import admission, live
from backend.runs import query as run_query
from backend.runs import service as run_service
from backend.runs.analysis import best_epoch, choice_series, overfit_epoch
from backend.runs.protocol import ClassReport
from backend.runs.schemas import (
    MetricPublic,
    MetricsPublic,
    RunAnalysis,
    RunCreate,
    RunCreated,
    RunDetail,
    RunOrigin,
    RunPublic,
    RunsPublic,
)
from backend.runs.views import run_public, runs_public
from backend.storage import service as storage

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=AUTH_RESPONSES)


@router.post("", status_code=201, response_model=RunCreated, responses=QUOTA_RESPONSES)
def create_run(body: RunCreate, session: SessionDep, identity: Member) -> RunCreated:
    """Queue a run of the caller's (any signed-in user); with ``repeats``, that many runs of the
    config with one seed each, as one group, admitted in one step (a quota refusal makes none)."""
    check_owner_field(identity, body.owner)
    assert identity.user is not None  # Member: a signed-in user
    config = admission.checked_config(body.config)
    planned = admission.repeated(config, body.repeat_seeds(), body.name, "repeats")
    _, made = admission.admit(session, identity.user, planned)
    return RunCreated(**run_public(made[0], detail=True).model_dump(), run_ids=[r.id for r in made])


@router.get("", response_model=RunsPublic)
def read_runs(
    session: SessionDep,
    identity: Member,
    status: str | None = Query(None, max_length=200, description="comma-separated statuses", json_schema_extra={
        "pattern": "^(({0})(,({0}))*)?$".format("|".join(tuple(RunStatus)))}),
    owner: str | None = Query(None, max_length=100, pattern=r"^[^\x00]*$"),
    sweep: int | None = Query(None, ge=1, le=INT_MAX),
    group: int | None = Query(None, ge=1, le=INT_MAX, description="the runs of one group of repeats"),
    q: str | None = Query(None, max_length=run_query.MAX_QUERY, pattern=r"^[^\x00]*$", description=(
        "a query over run fields, options and results (backend.runs.query), e.g. `tag:baseline status:succeeded "
        "architecture.family:compact lr>0.1 test_acc>=85% params<200k owner:ada`; a plain word searches the name, "
        "owner and architecture. Terms are ANDed; OR, parentheses, `-term`/`NOT term`, quoted values; operators "
        ": = != > >= < <=; numbers take k/M, accuracies a percent")),
    columns: str | None = Query(None, max_length=2000, pattern=r"^[^\x00]*$", description=(
        f"comma-separated columns to add (at most {run_query.MAX_COLUMNS}): run options by dotted path (lr, "
        "augment.cutout) or results; each run then carries `values` {column: value}")),
    sort: str = Query("-created_at", max_length=100, description=(
        "a summary column or a run option's dotted path, '-' for descending"),
        json_schema_extra={"pattern": "^-?(" + "|".join(sorted(run_service.SORTABLE)) + "|[a-z_]+(\\.[a-z_]+)*)$"}),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=INT_MAX),
) -> RunsPublic:
    if status:
        unknown = [s for s in status.split(",") if s not in tuple(RunStatus)]
        if unknown:
            raise field_error("status", f"unknown status {unknown[0]!r}; one of {', '.join(tuple(RunStatus))}")
    run_service.sort_column(sort)  # 422 on an unknown key, or on best_test_acc (never a ranking)
    chosen = run_query.parse_columns(columns)
    assert identity.user is not None  # Member: a signed-in user
    rows, count = run_service.list_runs(session, status=status, owner=owner, sweep_id=sweep, q=q, sort=sort,
                                        limit=limit, offset=offset, group_id=group, viewer_id=identity.user.id)
    data = runs_public(session, rows, identity.user.id)
    origins = run_service.origins_of(session, rows)
    for run, model in zip(rows, data, strict=True):
        if run.id in origins:
            kind, origin_id, name = origins[run.id]
            model.origin = RunOrigin(kind=kind, id=origin_id, name=name)  # type: ignore[arg-type]  # one of three
        if chosen:
            model.values = {c: run_query.column_value(run, c) for c in chosen}
    return RunsPublic(data=data, count=count)


@router.get("/events", responses=stream_responses("The runs list's event stream"))
async def read_runs_events(request: Request, _identity: StreamMember) -> EventSourceResponse:
    """Server-Sent Events for the runs list: a `run` event (the run's summary, progress inside
    its epoch included) whenever a queued or running run changes, and once more when it ends —
    so the list follows every run without polling."""
    return event_stream(_identity, _list_events(request.app.state.snapshots))


async def _list_events(snapshots: live.Snapshots) -> AsyncIterator[bytes]:
    yield RETRY
    sent: dict[int, str] = {}
    async with events.board.watch([events.RUNS]) as watch:
        while True:
            watch.versions()  # clears the flag: a change from now on wakes the wait below
            active = await live.active_snapshot(snapshots)
            for run_id, run in active.items():
                body = run.model_dump_json()
                if sent.get(run_id) != body:
                    yield sse("run", body, str(run_id))
                sent[run_id] = body
            for run_id in [i for i in sent if i not in active]:
                final = (await live.run_snapshot(snapshots, run_id)).run  # ended or deleted: its last word
                if final is None:
                    yield sse("deleted", json.dumps({"id": run_id}))
                elif sent[run_id] != (body := final.model_dump_json()):
                    yield sse("run", body, str(run_id))
                del sent[run_id]
            await asyncio.sleep(live.LIST_MIN_INTERVAL_S)  # a busy lab's changes are sent together
            await watch.wait(KEEPALIVE_S)


@router.get("/{run_id:int}", response_model=RunDetail)
def read_run(run_id: RunId, session: SessionDep, identity: Member) -> RunPublic:
    assert identity.user is not None  # Member: a signed-in user
    return runs_public(session, [get_run_or_404(session, run_id)], identity.user.id, detail=True)[0]


@router.get("/{run_id:int}/metrics", response_model=MetricsPublic)
def read_metrics(run_id: RunId, session: SessionDep, _identity: Member, since_epoch: EpochQuery = 0) -> MetricsPublic:
    run = get_run_or_404(session, run_id)
    rows = run_service.metrics_of(session, run_id, since_epoch)
    return MetricsPublic(run_id=run_id, status=RunStatus(run.status),
                         data=[MetricPublic.model_validate(m) for m in rows])


@router.get("/{run_id:int}/analysis", response_model=RunAnalysis)
def read_analysis(run_id: RunId, session: SessionDep, _identity: Member) -> RunAnalysis:
    """The chosen epoch and the epoch where overfitting starts (backend.runs.analysis), both read on the
    validation accuracy when the run holds out images, else on test accuracy (``selected_on``)."""
    get_run_or_404(session, run_id)
    rows = run_service.metrics_of(session, run_id)
    epochs = [m.epoch for m in rows]
    selected_on, held_out = choice_series({"val_acc": [m.val_acc for m in rows],
                                           "test_acc": [m.test_acc for m in rows]})
    train = [m.train_acc for m in rows]
    return RunAnalysis(best_epoch=best_epoch(epochs, held_out), overfit_epoch=overfit_epoch(epochs, train, held_out),
                       selected_on=SelectedOn(selected_on))


@router.get("/{run_id:int}/evaluation", response_model=ClassReport)
def read_evaluation(run_id: RunId, session: SessionDep, _identity: Member) -> ClassReport:
    """Per-class test accuracy, confusion matrix and misclassified images of the best weights."""
    get_run_or_404(session, run_id)
    row = session.get(RunEvaluation, run_id)
    if row is None:
        raise HTTPException(404, f"Run {run_id} has no class report yet (it is written when the run ends)")
    return ClassReport.model_validate(row.report)


@router.post("/{run_id:int}/cancel", response_model=RunDetail, responses=CONFLICT)
def cancel_run(run_id: RunId, session: SessionDep, identity: Member) -> RunPublic:
    """The run's owner or an admin; recorded (who, when) and shown on the run's page."""
    run = get_run_or_404(session, run_id)
    require_owner(identity, run.owner, f"run {run_id}", "cancel")
    assert identity.user is not None  # Member: a signed-in user
    run_service.cancel(session, run, identity.user)
    record(session, identity.user, "run.cancel", "run", run_id, f"cancel of run {run_id} ({run.name}) asked")
    session.commit()
    events.changed(run_id)
    return run_public(run, detail=True)


@router.delete("/{run_id:int}", status_code=204, responses=CONFLICT)
def delete_run(run_id: RunId, session: SessionDep, identity: Member) -> None:
    """The run's owner or an admin; recorded."""
    run = get_run_or_404(session, run_id)
    require_owner(identity, run.owner, f"run {run_id}", "delete")
    paths = storage.run_files(session, run)  # its checkpoints and model: rows first, then files (backend.storage)
    record(session, identity.user, "run.delete", "run", run_id,
           f"run {run_id} ({run.name}) of {run.owner.username} deleted")
    run_service.delete_run(session, run)
    storage.remove_run_files(run_id, paths)
    events.changed(run_id)


@router.get("/{run_id:int}/checkpoints/{kind}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "The checkpoint (torch.save)"}})
def download_checkpoint(run_id: RunId, kind: CheckpointKindPath, session: SessionDep,
                        _identity: Member) -> FileResponse:
    ckpt = checkpoint_or_404(get_run_or_404(session, run_id), kind)
    return FileResponse(ckpt.path, media_type="application/octet-stream",
                        filename=f"run{run_id}-{kind}-epoch{ckpt.epoch}.pt",
                        headers={"X-Checkpoint-Epoch": str(ckpt.epoch), "X-Checkpoint-Sha256": ckpt.sha256})


@router.get("/{run_id:int}/events", responses=stream_responses("The event stream"))
async def read_events(
    run_id: RunId,
    request: Request,
    _identity: StreamMember,
    since_epoch: EpochQuery = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: `metric` for every recorded epoch (id = epoch), `status` on every change,
    `model` when the run's model export changes (`{"status": "exporting" | "ready" | "failed",
    "reason"}`, sent once the run has one), `deleted` when the run goes.

    A client that reconnects (EventSource does so by itself) sends Last-Event-ID and gets only
    what it missed. The stream ends after the status event of a finished run, once its model is not
    being exported.
    """
    if last_event_id and last_event_id.isdigit() and len(last_event_id) < 10:
        since_epoch = max(since_epoch, int(last_event_id))
    if (await live.run_snapshot(request.app.state.snapshots, run_id)).run is None:
        raise HTTPException(404, f"Run {run_id} not found")
    return event_stream(_identity, _events(run_id, request.app.state.snapshots, since_epoch))


async def _events(run_id: int, snapshots: live.Snapshots, since_epoch: int) -> AsyncIterator[bytes]:
    sent_status: str | None = None
    sent_model = "null"  # no export: nothing to say
    sent_epoch = since_epoch
    yield RETRY
    async with events.board.watch([events.run_topic(run_id)]) as watch:
        while True:
            watch.versions()
            run, metrics, model = await live.run_snapshot(snapshots, run_id)
            if run is None:
                yield sse("deleted", json.dumps({"id": run_id}))
                return
            for m in metrics:
                if m.epoch > sent_epoch:
                    yield sse("metric", m.model_dump_json(), str(m.epoch))
                    sent_epoch = m.epoch
            model_json = "null" if model is None else model.model_dump_json()
            if model_json != sent_model:  # before the status: a finished run's last event is its status
                yield sse("model", model_json, str(sent_epoch))
                sent_model = model_json
            queued = run.status == RunStatus.QUEUED
            if queued:  # its place moves as other runs start and end: re-read every few seconds
                run = run.model_copy(update={"queue": (await live.queue_places()).get(run_id)})
            status = run.model_dump_json()
            if status != sent_status:
                yield sse("status", status, str(sent_epoch))
                sent_status = status
            if run.status in FINISHED_STATUSES and (model is None or model.status != ModelStatus.EXPORTING):
                return
            await watch.wait(live.QUEUE_REFRESH_S if queued else KEEPALIVE_S)
