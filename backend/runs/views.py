"""Rows → response bodies that more than one route answers with."""

from __future__ import annotations

from backend.core.tables import Run
from backend.runs.schemas import RunDetail, RunPublic


def run_public(run: Run, detail: bool = False) -> RunPublic:
    model = (RunDetail if detail else RunPublic).model_validate(run)
    if run.last_train_acc is not None and run.last_test_acc is not None:
        model.train_test_gap = run.last_train_acc - run.last_test_acc
    return model
