"""Helpers of the identity tests: a browser's client (no token, the session cookie) signing in
through the form, and the number of runs (what a refused request must not change)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.core.db import SessionLocal
from backend.core.tables import Run
from backend.identity.limiter import signin_limiter
from tests.utils.auth import PASSWORD


def browser(app) -> TestClient:
    """A client with no token: it proves itself with the session cookie, as a browser does."""
    return TestClient(app)


def sign_in(c: TestClient, username: str, password: str = PASSWORD) -> str:
    """Signs in through the form; returns the page's CSRF token (as base.html carries it)."""
    signin_limiter.clear()
    r = c.post("/login", data={"username": username, "password": password, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    page = c.get("/").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def run_count() -> int:
    with SessionLocal() as session:
        return session.query(Run).count()
