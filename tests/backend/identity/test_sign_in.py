"""Signing in: the form, what a failure tells, its rate limit (per username and address, and under
concurrent guesses), where it redirects, the session cookie, and sessions and tokens that end at once
when a user is deactivated or changes their password."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.core.settings import settings
from backend.identity.limiter import signin_limiter
from tests.backend.identity.helpers import browser, sign_in
from tests.utils.auth import PASSWORD, LabTestClient, user_token


def test_sign_in_sets_a_session_and_me_says_who(app) -> None:
    user_token("june")
    c = browser(app)
    assert c.get("/api/me").status_code == 401
    assert c.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    sign_in(c, "JUNE")  # usernames ignore case
    me = c.get("/api/me").json()
    assert (me["username"], me["via"], me["role"], me["auth_mode"]) == ("june", "session", "member", "required")
    assert me["last_sign_in_at"] is not None


def test_a_failed_sign_in_never_tells_whether_the_user_exists(app) -> None:
    user_token("kim")
    signin_limiter.clear()
    c = browser(app)
    wrong = c.post("/login", data={"username": "kim", "password": "not it at all"})
    nobody = c.post("/login", data={"username": "nobody-here", "password": "not it at all"})
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong username or password." in wrong.text and "Wrong username or password." in nobody.text
    assert wrong.text.replace("kim", "X") == nobody.text.replace("nobody-here", "X")


def test_failed_sign_ins_are_limited_per_username_and_per_address(app, monkeypatch) -> None:
    user_token("lee")
    signin_limiter.clear()
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_USER", 3)
    monkeypatch.setattr(settings, "SIGNIN_MAX_FAILURES_PER_ADDRESS", 5)
    c = browser(app)
    for _ in range(3):
        assert c.post("/login", data={"username": "lee", "password": "guess guess"}).status_code == 401
    blocked = c.post("/login", data={"username": "lee", "password": PASSWORD})  # even the right one, for now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "cnnlab_session" not in blocked.headers.get("set-cookie", "")
    # other usernames from the same address: two more failures reach the address's limit
    for name in ("x1", "x2"):
        assert c.post("/login", data={"username": name, "password": "guess guess"}).status_code == 401
    assert c.post("/login", data={"username": "x3", "password": "guess guess"}).status_code == 429
    signin_limiter.clear()
    assert c.post("/login", data={"username": "lee", "password": PASSWORD}, follow_redirects=False).status_code == 303


def test_concurrent_guesses_cannot_slip_past_the_limit() -> None:
    """Each attempt is reserved before its password is checked (argon2 takes ~0.2 s): of 30 guesses
    at once, at most the limit are tried."""
    import threading

    from backend.identity.limiter import SignInLimiter

    limiter = SignInLimiter()
    allowed: list[bool] = []
    start = threading.Barrier(30)

    def guess() -> None:
        start.wait()
        wait, _ = limiter.attempt([("user:x", 5), ("addr:a", 20)], 300)
        allowed.append(wait is None)

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 5
    wait, stamp = limiter.attempt([("user:y", 5), ("addr:b", 20)], 300)
    limiter.succeeded("user:y", ["addr:b"], stamp)  # a right password takes its attempt back
    assert limiter.attempt([("user:y", 1), ("addr:b", 1)], 300)[0] is None


def test_sign_in_redirects_only_inside_the_site(app) -> None:
    user_token("mo")
    signin_limiter.clear()
    for target, expected in (("/runs/new", "/runs/new"), ("https://evil.example/", "/"), ("//evil.example", "/")):
        r = browser(app).post("/login", data={"username": "mo", "password": PASSWORD, "next": target},
                              follow_redirects=False)
        assert r.headers["location"] == expected


def test_over_https_the_session_cookie_is_secure(app) -> None:
    user_token("vic")
    signin_limiter.clear()
    c = TestClient(app, base_url="https://testserver")
    r = c.post("/login", data={"username": "vic", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


# --- sessions and tokens end at once --------------------------------------------------------------

def test_deactivating_a_user_ends_their_session_and_tokens_at_once(app) -> None:
    admin = LabTestClient(app, "root", "admin")
    token = user_token("nell")
    c = browser(app)
    sign_in(c, "nell")
    assert c.get("/api/me").status_code == 200
    script = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert script.get("/api/me").status_code == 200
    nell = next(u for u in admin.get("/api/users").json()["data"] if u["username"] == "nell")
    assert admin.patch(f"/api/users/{nell['id']}", json={"active": False}).json()["active"] is False
    assert c.get("/api/me").status_code == 401
    assert script.get("/api/me").status_code == 401
    signin_limiter.clear()
    assert browser(app).post("/login", data={"username": "nell", "password": PASSWORD}).status_code == 401
    audit = admin.get("/api/audit").json()["data"]
    assert (audit[0]["action"] == "user.deactivate" and audit[0]["actor"] == "root"
            and audit[0]["target_id"] == nell["id"])


def test_changing_a_password_ends_every_session(app) -> None:
    user_token("ola")
    first, second = browser(app), browser(app)
    csrf = sign_in(first, "ola")
    sign_in(second, "ola")
    r = first.post("/api/me/password", json={"current_password": "wrong", "new_password": "a new password"},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "current_password" in r.json()["detail"]
    r = first.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "a new password"},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert first.get("/api/me").status_code == 401 and second.get("/api/me").status_code == 401
    sign_in(first, "ola", "a new password")
