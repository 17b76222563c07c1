"""Rows → response bodies that more than one route answers with."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import object_session

from backend.core.statuses import CheckpointKind
from backend.core.tables import Run, RunEvaluation
from backend.runs.schemas import RunDetail, RunPublic


def run_public(run: Run, detail: bool = False) -> RunPublic:
    model = (RunDetail if detail else RunPublic).model_validate(run)
    if run.last_train_acc is not None and run.last_test_acc is not None:
        model.train_test_gap = run.last_train_acc - run.last_test_acc
    if isinstance(model, RunDetail):  # what its page may fetch: the artefacts that exist
        session = object_session(run)
        model.has_evaluation = session is not None and session.get(RunEvaluation, run.id) is not None
        model.kept_checkpoints = sorted(CheckpointKind(c.kind) for c in run.checkpoints if Path(c.path).is_file())
    return model
