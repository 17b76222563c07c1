"""Fixtures shared by the backend's in-process API tests (SQLite, the worker's calls made by hand)."""

from __future__ import annotations

import pytest

from tests.utils.auth import LabTestClient, user_token


@pytest.fixture(scope="module")
def client():
    """The app in-process as "alice", one per test module (tests that need another user or a
    function-scoped client define their own ``client``)."""
    from backend.cli.migrate import upgrade

    upgrade()
    from backend.main import create_app

    user_token("root", "admin")  # required mode starts only with an admin
    end_active_runs_of("alice")
    with LabTestClient(create_app(), "alice") as c:
        yield c


def end_active_runs_of(username: str) -> None:
    """The modules share one database: a module starts with none of the user's runs still queued or
    running from the modules before it, so the lab's quota on active runs is the module's own."""
    from sqlalchemy import select, update

    from backend.core.db import SessionLocal
    from backend.core.statuses import ACTIVE_STATUSES, RunStatus
    from backend.core.tables import Run, User

    with SessionLocal() as session:
        session.execute(update(Run).where(Run.status.in_(ACTIVE_STATUSES),
                                          Run.owner_id.in_(select(User.id).where(User.username == username)))
                        .values(status=RunStatus.CANCELLED))
        session.commit()


@pytest.fixture(scope="module")
def app():
    """The app, started once per module (its lifespan: the startup checks), for tests that make
    their own clients (other users, other client addresses)."""
    from fastapi.testclient import TestClient

    from backend.cli.migrate import upgrade
    from backend.main import create_app

    upgrade()
    user_token("root", "admin")
    application = create_app()
    with TestClient(application):
        yield application
