"""Workers say they are up (the worker credential); members see who is up and what each trains."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from backend.core.db import SessionDep
from backend.identity.rules import AUTH_RESPONSES, Member, worker
from backend.workers import presence

router = APIRouter(tags=["workers"], responses=AUTH_RESPONSES)


@router.post("/api/worker/presence", status_code=204, dependencies=[Depends(worker)])
def report_presence(body: presence.PresenceReport, session: SessionDep) -> None:
    """A worker process is up: at its start (``first``), then every CNNLAB_WORKER_PRESENCE_S."""
    presence.report(session, body)


@router.get("/api/workers", response_model=presence.WorkersPublic)
def read_workers(session: SessionDep, _identity: Member) -> presence.WorkersPublic:
    """Every worker known, up first: its device, since when it is up, when it was last seen, and the
    run it trains (epoch, since when, its measured seconds per epoch). A worker is down when it has
    not said it is up for 3 presence intervals; one down for a day is forgotten."""
    return presence.list_workers(session)
