from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from backend.db import get_session
from backend.models import Checkpoint, Run, Search, Study

SessionDep = Annotated[Session, Depends(get_session)]


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
        raise HTTPException(404, f"Run {run.id} has no {kind!r} checkpoint")
    return ckpt


def field_error(field: str, message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, [{"field": field, "message": message}])


class FieldError(BaseModel):
    field: str = Field(description="the dotted path of what was refused, e.g. config.architecture.stages[0]")
    message: str = Field(description="why, with the limit")
    limit: int | None = Field(None, description="quotas: the quota's limit")
    current: int | None = Field(None, description="quotas: the caller's current count")


class ErrorBody(BaseModel):
    """Every refusal of a field (422, 413, 429): which field, and why."""

    detail: list[FieldError]


QUOTA_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "Over a quota of the lab: nothing was queued"}}
