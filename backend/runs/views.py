"""Rows → response bodies that more than one route answers with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session, object_session

from backend.core.markdown import render_note
from backend.core.statuses import CheckpointKind
from backend.core.tables import Run, RunEvaluation
from backend.organise.service import Stars, no_stars, stars_of
from backend.runs import queue_eta
from backend.runs.configs import cli_command, config_view
from backend.runs.schemas import RunDetail, RunPublic
from backend.storage import service as storage


def run_public(run: Run, detail: bool = False, stars: Stars | None = None) -> RunPublic:
    """``stars``: the run's, as stars_of read them for the caller; left out, they are read for this
    run alone, without a caller (a list reads them once for all its runs: runs_public)."""
    model = (RunDetail if detail else RunPublic).model_validate(run)
    if run.last_train_acc is not None and run.last_test_acc is not None:
        model.train_test_gap = run.last_train_acc - run.last_test_acc
    session = object_session(run)
    if stars is None:
        stars = (stars_of(session, [run.id], None) if session is not None else {}).get(run.id, no_stars(None))
    model.stars, model.starred = stars.count, stars.starred
    if isinstance(model, RunDetail):  # what its page may fetch: the artefacts that exist
        model.has_evaluation = session is not None and session.get(RunEvaluation, run.id) is not None
        model.kept_checkpoints = sorted(CheckpointKind(c.kind) for c in run.checkpoints if Path(c.path).is_file())
        if not run.checkpoints and session is not None:
            model.checkpoints_removed = storage.checkpoints_removed(session, run.id)
        model.note_html = render_note(run.note)
        model.config_view = config_view(run.config)
        model.cli_command = cli_command(run.config, run.name)
    return model


def runs_public(session: Session, runs: Sequence[Run], user_id: int | None, detail: bool = False) -> list[RunPublic]:
    """Summaries of these runs with their stars for ``user_id`` (None: no caller), read in one query,
    and the queued ones' places in the queue (backend.runs.queue_eta: a few queries for all of them)."""
    stars = stars_of(session, [r.id for r in runs], user_id)
    return queue_eta.with_queue(session, [run_public(r, detail, stars.get(r.id, no_stars(user_id))) for r in runs])
