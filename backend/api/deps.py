from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from sqlalchemy.orm import Session

from backend.db import get_session
from backend.models import Run

SessionDep = Annotated[Session, Depends(get_session)]


def get_run_or_404(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise HTTPException(404, f"Run {run_id} not found")
    return run


def field_error(field: str, message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, [{"field": field, "message": message}])
