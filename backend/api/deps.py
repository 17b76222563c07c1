"""Lookups that every feature's routes share: a row by its id, or a 404 that names it."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from sqlalchemy.orm import Session

from backend.core.tables import Checkpoint, Run, Search, Study


def get_run_or_404(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise HTTPException(404, f"Run {run_id} not found")
    return run


def study_or_404(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise HTTPException(404, f"Study {study_id} not found")
    return study


def search_or_404(session: Session, search_id: int) -> Search:
    search = session.get(Search, search_id)
    if search is None:
        raise HTTPException(404, f"Search {search_id} not found")
    return search


def checkpoint_or_404(run: Run, kind: str) -> Checkpoint:
    ckpt = next((c for c in run.checkpoints if c.kind == kind), None)
    if ckpt is None or not Path(ckpt.path).is_file():
        raise HTTPException(404, f"Run {run.id} has no {str(kind)!r} checkpoint")  # the word, not the enum's repr
    return ckpt
