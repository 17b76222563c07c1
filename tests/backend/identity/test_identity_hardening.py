"""Identity, hardened after a security re-test: the password change is limited like the sign-in,
deactivation revokes tokens for good, the sign-in limit counts per (user, address) and believes
forwarded addresses only from configured proxies, and an anonymous body is refused unread."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from backend.cli.serve import proxy_options
from backend.core.settings import settings
from backend.identity.limiter import signin_limiter
from tests.utils.auth import PASSWORD, LabTestClient, user_token

WRONG = "not the password at all"


@pytest.fixture(autouse=True)
def fresh_limiter():
    signin_limiter.clear()
    yield
    signin_limiter.clear()


def bearer(app: Any, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def sign_in(app: Any, username: str, password: str, address: str = "testclient") -> int:
    c = TestClient(app, client=(address, 50000))
    return c.post("/login", data={"username": username, "password": password}, follow_redirects=False).status_code


# --- 1. the password change checks the current password under the sign-in limit ------------------

def change(c: TestClient, current: str, new: str = "a brand new password") -> httpx.Response:
    return c.post("/api/me/password", json={"current_password": current, "new_password": new})


def test_the_sixth_wrong_current_password_is_refused_unchecked(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_USER", 5)
    c = bearer(app, user_token("hard-pat"))
    assert [change(c, WRONG).status_code for _ in range(5)] == [403] * 5
    blocked = change(c, WRONG)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert change(c, PASSWORD).status_code == 429  # even the right one, for now: as at the sign-in form


def test_a_right_current_password_forgives_the_failures_before_it(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_USER", 5)
    c = bearer(app, user_token("hard-quinn"))  # a token survives the password change (sessions do not)
    assert [change(c, WRONG).status_code for _ in range(4)] == [403] * 4
    assert change(c, PASSWORD, "quinn's second password").status_code == 204
    assert [change(c, WRONG).status_code for _ in range(5)] == [403] * 5  # counted from zero again
    assert change(c, WRONG).status_code == 429


def test_the_sign_in_form_and_the_password_change_share_one_count(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_USER", 5)
    c = bearer(app, user_token("hard-rae"))
    assert [sign_in(app, "hard-rae", WRONG) for _ in range(3)] == [401] * 3
    assert [change(c, WRONG).status_code for _ in range(2)] == [403] * 2
    assert change(c, WRONG).status_code == 429
    assert sign_in(app, "hard-rae", PASSWORD) == 429


# --- 2. deactivation revokes tokens: reactivating revives none -----------------------------------

def test_reactivating_a_user_does_not_revive_their_old_tokens(app) -> None:
    admin = LabTestClient(app, "root", "admin")
    old = bearer(app, user_token("hard-sam"))
    assert old.get("/api/me").status_code == 200
    sam = next(u for u in admin.get("/api/users").json()["data"] if u["username"] == "hard-sam")
    assert admin.patch(f"/api/users/{sam['id']}", json={"active": False}).json()["active"] is False
    assert admin.patch(f"/api/users/{sam['id']}", json={"active": True}).json()["active"] is True
    assert old.get("/api/me").status_code == 401
    tokens = admin.get(f"/api/users/{sam['id']}/tokens").json()["data"]
    assert tokens and all(t["revoked_at"] is not None for t in tokens)
    assert bearer(app, user_token("hard-sam")).get("/api/me").json()["username"] == "hard-sam"  # a new one works
    assert sign_in(app, "hard-sam", PASSWORD) == 303  # and so does their password


# --- 3. the sign-in limit: per (user, address), addresses believed from configured proxies only -----

def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out_at_another_address(app) -> None:
    user_token("hard-alice")
    assert [sign_in(app, "hard-alice", WRONG, "198.51.100.66") for _ in range(5)] == [401] * 5
    assert sign_in(app, "hard-alice", PASSWORD, "198.51.100.66") == 429  # that address is stopped
    assert sign_in(app, "hard-alice", PASSWORD, "192.0.2.10") == 303  # the owner, at theirs, is not


def test_guesses_spread_over_many_addresses_are_still_stopped(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_USER_ALL_ADDRESSES", 8)
    user_token("hard-bea")
    assert sign_in(app, "hard-bea", PASSWORD, "192.0.2.77") == 303  # bea's own address, known from now on
    assert [sign_in(app, "hard-bea", WRONG, f"198.51.100.{i}") for i in range(8)] == [401] * 8
    assert sign_in(app, "hard-bea", WRONG, "198.51.100.200") == 429  # a ninth address is stopped…
    assert sign_in(app, "hard-bea", PASSWORD, "198.51.100.201") == 429  # …and so is any unknown one
    assert sign_in(app, "hard-bea", PASSWORD, "192.0.2.77") == 303  # but the owner is not locked out at hers


def test_twenty_failures_from_an_address_do_not_lock_out_everyone_behind_it(app) -> None:
    user_token("hard-bob")
    assert [sign_in(app, f"hard-nobody-{i}", WRONG, "203.0.113.1") for i in range(20)] == [401] * 20
    assert sign_in(app, "hard-bob", PASSWORD, "203.0.113.1") == 303


def served(app: Any) -> Any:
    """The app wrapped as `python -m backend.cli.serve` serves it (uvicorn's proxy-header handling)."""
    config = uvicorn.Config(app, log_config=None, **proxy_options())
    config.load()
    return config.loaded_app


def failed_sign_ins(app: Any, forwarded_for: list[str]) -> list[int]:
    """Wrong passwords for a new name each, sent from a process on the backend's own machine."""
    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=served(app), client=("127.0.0.1", 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return [(await c.post("/login", data={"username": f"hard-guess-{i}", "password": WRONG},
                                  headers={"X-Forwarded-For": ip})).status_code for i, ip in enumerate(forwarded_for)]

    return asyncio.run(go())


def test_rotated_forwarded_addresses_from_an_unconfigured_peer_do_not_escape_the_address_limit(
        app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_ADDRESS", 5)  # FORWARDED_ALLOW_IPS: the default
    codes = failed_sign_ins(app, [f"198.51.100.{i}" for i in range(30)])
    assert codes == [401] * 5 + [429] * 25


def test_a_configured_proxy_is_believed(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "FORWARDED_ALLOW_IPS", "127.0.0.1")
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_ADDRESS", 5)
    assert failed_sign_ins(app, ["198.51.100.1"] * 6) == [401] * 5 + [429]
    assert failed_sign_ins(app, ["198.51.100.2"]) == [401]  # another client behind the same proxy


# --- 4. an anonymous body is refused before it is read -------------------------------------------

def raw_request(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
                client: tuple[str, int] = ("203.0.113.9", 40000),
                content_type: bytes = b"application/json") -> tuple[int, dict[bytes, bytes], bool]:
    """One request through the app's ASGI interface: (status, headers, whether its body was read)."""
    read = False
    start: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": b"{}" if content_type == b"application/json" else b"a=b",
                "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", content_type), *headers],
             "client": client, "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return start["status"], dict(start.get("headers", [])), read


LARGE = [(b"content-length", b"209715200")]  # 200 MB declared
UNDER_THE_CAP = [(b"content-length", b"900000")]
CHUNKED = [(b"transfer-encoding", b"chunked")]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/runs", LARGE),
    ("POST", "/api/runs", UNDER_THE_CAP),
    ("POST", "/api/runs", CHUNKED),
    ("POST", "/api/users", UNDER_THE_CAP),  # admin
    ("POST", "/api/worker/runs/1/epochs", CHUNKED),  # worker
])
def test_an_anonymous_body_is_refused_before_it_is_read(app, method, path, body) -> None:
    status, headers, read = raw_request(app, method, path, body)
    assert (status, read) == (401, False)
    assert headers[b"www-authenticate"] == b"Bearer"


@pytest.mark.parametrize(("path", "headers", "content_type"), [
    ("/login", UNDER_THE_CAP, b"application/x-www-form-urlencoded"),  # public: the sign-in form is read
    ("/api/runs", [*UNDER_THE_CAP, (b"authorization", b"Bearer cnt_not-a-real-token")], b"application/json"),
    ("/api/runs", [*UNDER_THE_CAP, (b"cookie", b"cnnlab_session=not-a-real-session")], b"application/json"),
])
def test_bodies_that_are_public_or_carry_credentials_are_read(app, path, headers, content_type) -> None:
    status, _headers, read = raw_request(app, "POST", path, headers, content_type=content_type)
    assert read and status in (401, 422)  # then refused: for its content, or its credentials


def test_in_local_mode_the_laptops_own_requests_are_read(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "AUTH", "local")
    status, _headers, read = raw_request(app, "PATCH", "/api/users/2147483000", UNDER_THE_CAP,
                                         client=("127.0.0.1", 40000))
    assert (status, read) == (404, True)  # the local admin, looking for a user that does not exist
