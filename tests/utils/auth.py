"""Authenticated test clients: every existing API test runs as a signed-in user (an API token),
and its worker calls carry the worker credential and the lease of the run's last claim, as a
real worker's do (worker.client)."""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi.testclient import TestClient

WORKER_TOKEN = os.environ["CNNLAB_WORKER_TOKEN"]  # set by tests/conftest.py
PASSWORD = "correct horse battery"


def user_token(username: str, role: str = "member", password: str | None = PASSWORD) -> str:
    """A new API token of ``username`` in the tests' database (the user is made when missing)."""
    from backend.core.db import SessionLocal
    from backend.identity import service as users

    with SessionLocal() as session:
        user = users.find_user(session, username) or users.create_user(session, username, password, role)
        token = users.issue_token(session, user, f"tests {username}").secret
        session.commit()
        return token


class LabTestClient(TestClient):
    """A TestClient acting as one user; /api/worker/* calls act as a worker holding the leases it
    claimed (unless a test passes its own Authorization or X-Run-Lease header)."""

    def __init__(self, app: Any, username: str, role: str = "member", **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.username = username
        self.token = user_token(username, role)
        self.leases: dict[int, str] = {}
        self._others: dict[str, LabTestClient] = {}

    def as_user(self, username: str, role: str = "member") -> LabTestClient:
        """Another user's client on the same app (made once)."""
        if username == self.username:
            return self
        if username not in self._others:
            other = LabTestClient(self.app, username, role)
            other.leases = self.leases  # one worker fleet
            self._others[username] = other
        return self._others[username]

    @staticmethod
    def _run_id(path: str) -> int | None:
        parts = path.split("?")[0].split("/")
        return int(parts[4]) if len(parts) > 4 and parts[4].isdigit() else None

    def build_request(self, method: str, url: Any, **kwargs: Any):  # type: ignore[override]
        path = httpx.URL(str(url)).path
        headers = dict(kwargs.pop("headers", None) or {})
        names = {k.lower() for k in headers}
        if path.startswith("/api/worker/"):
            if "authorization" not in names:
                headers["Authorization"] = f"Bearer {WORKER_TOKEN}"
            run_id = self._run_id(path)
            if "x-run-lease" not in names and run_id in self.leases:
                headers["X-Run-Lease"] = self.leases[run_id]
        elif "authorization" not in names:
            headers["Authorization"] = f"Bearer {self.token}"
        return super().build_request(method, url, headers=headers, **kwargs)

    def request(self, method: str, url: Any, **kwargs: Any):  # type: ignore[override]
        response = super().request(method, url, **kwargs)
        path = httpx.URL(str(url)).path
        if path.startswith("/api/worker/") and path.endswith("/claim") and response.status_code == 200:
            self.leases[self._run_id(path)] = response.json()["lease"]
        return response
