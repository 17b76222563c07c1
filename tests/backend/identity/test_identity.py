"""Identity in-process (SQLite): sign-in and its rate limit, sessions ending at once, API tokens,
CSRF and cross-site refusals, allowed hosts, forged worker reports, quotas, the audit record,
local mode, and the backend's refusal to start open or locked."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.cli.migrate import upgrade
from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Checkpoint, EpochMetric, Run, utcnow
from backend.identity.limiter import signin_limiter
from tests.utils.auth import PASSWORD, WORKER_TOKEN, LabTestClient, user_token
from tests.utils.factories import metric, tiny_config
from tests.utils.services import ROOT


@pytest.fixture
def client(app):
    return LabTestClient(app, "ivy")


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


# --- signing in --------------------------------------------------------------------------------

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


def test_sign_in_redirects_only_inside_the_site(app) -> None:
    user_token("mo")
    signin_limiter.clear()
    for target, expected in (("/runs/new", "/runs/new"), ("https://evil.example/", "/"), ("//evil.example", "/")):
        r = browser(app).post("/login", data={"username": "mo", "password": PASSWORD, "next": target},
                              follow_redirects=False)
        assert r.headers["location"] == expected


# --- sessions and tokens end at once -----------------------------------------------------------

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


def test_a_token_is_shown_once_stored_hashed_and_refused_once_revoked(client, app) -> None:
    made = client.post("/api/tokens", json={"label": "nightly", "expires_days": 30})
    assert made.status_code == 201
    secret = made.json()["token"]
    assert secret.startswith("cnl_") and made.json()["prefix"] == secret[:10]
    listed = client.get("/api/tokens").json()["data"]
    assert all("token" not in t for t in listed) and any(t["label"] == "nightly" for t in listed)
    with SessionLocal() as session:
        from backend.core.tables import ApiToken

        row = session.get(ApiToken, made.json()["id"])
        assert secret not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
    script = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    assert script.get("/api/me").json()["via"] == "token"
    assert client.get("/api/tokens").json()["data"][0]["last_used_at"] is not None
    assert client.delete(f"/api/tokens/{made.json()['id']}").status_code == 204
    r = script.get("/api/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/audit").status_code == 403  # a member reads no audit


def test_an_expired_token_is_refused(client, app) -> None:
    from backend.core.tables import ApiToken

    made = client.post("/api/tokens", json={"label": "short"}).json()
    with SessionLocal() as session:
        session.get(ApiToken, made["id"]).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert TestClient(app, headers={"Authorization": f"Bearer {made['token']}"}).get("/api/me").status_code == 401


# --- cross-site requests and hosts -------------------------------------------------------------

def test_a_cookie_request_that_changes_something_needs_the_csrf_token(app) -> None:
    user_token("pia")
    c = browser(app)
    csrf = sign_in(c, "pia")
    body = {"name": "csrf", "config": tiny_config()}
    before = run_count()
    assert c.post("/api/runs", json=body).status_code == 403
    assert c.post("/api/runs", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    # a cross-site page posting a form: another origin, and it cannot read the token
    cross = c.post("/api/runs", data={"name": "x"},
                   headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert c.post("/api/runs", json=body,
                  headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status_code == 403
    assert run_count() == before
    ok = c.post("/api/runs", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://testserver",
                                                 "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 201 and ok.json()["owner"] == "pia"
    assert c.get("/api/runs").status_code == 200  # reading needs no token


def test_sign_in_and_sign_out_refuse_cross_site_posts(app) -> None:
    user_token("quin")
    signin_limiter.clear()
    c = browser(app)
    r = c.post("/login", data={"username": "quin", "password": PASSWORD}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    csrf = sign_in(c, "quin")
    assert c.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert c.get("/api/me").status_code == 401


def test_hosts_not_allowed_are_refused(client) -> None:
    assert client.get("/api/health", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 200


def test_every_page_carries_the_security_headers(client) -> None:
    for path in ("/", "/runs/new", "/api/health", "/api/runs", "/login"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
    pages = [client.get(p).text for p in ("/", "/runs/new", "/tokens", "/login")]
    assert all("<script>" not in p and "onclick" not in p for p in pages)  # no inline script to allow


# --- workers: the credential and the lease ---------------------------------------------------------

def stored(run_id: int) -> tuple:
    with SessionLocal() as session:
        run = session.get(Run, run_id)
        return (run.status, run.epochs_done, run.best_test_acc, run.reason,
                session.query(EpochMetric).filter_by(run_id=run_id).count(),
                session.query(Checkpoint).filter_by(run_id=run_id).count())


def test_forged_worker_reports_are_refused_and_store_nothing(client, app) -> None:
    from backend.workers.reaper import sweep_once

    run = client.post("/api/runs", json={"config": tiny_config()}).json()
    worker = TestClient(app, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    claimed = worker.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).json()
    lease = claimed["lease"]
    base = f"/api/worker/runs/{run['id']}"
    forged = {"attempt": claimed["attempt"], "metrics": [metric(1, test_acc=0.99)]}
    before = stored(run["id"])
    # "best 500%": refused whatever the lease
    five = {"attempt": claimed["attempt"], "metrics": [metric(1, test_acc=5.0)]}
    assert worker.post(f"{base}/epochs", json=five, headers={"X-Run-Lease": lease}).status_code == 422
    # no lease, a wrong lease, a user's token (with the right lease), no credential at all
    assert worker.post(f"{base}/epochs", json=forged).status_code == 422
    assert worker.post(f"{base}/epochs", json=forged, headers={"X-Run-Lease": "guess"}).status_code == 409
    user = {"Authorization": f"Bearer {client.token}", "X-Run-Lease": lease}
    assert TestClient(app).post(f"{base}/epochs", json=forged, headers=user).status_code == 403
    assert TestClient(app).post(f"{base}/epochs", json=forged, headers={"X-Run-Lease": lease}).status_code == 401
    assert worker.put(f"{base}/checkpoints/best?attempt=1&epoch=1", content=b"fake",
                      headers={"X-Run-Lease": "guess"}).status_code == 409
    assert worker.post(f"{base}/finish", json={"attempt": 1, "status": "succeeded"},
                       headers={"X-Run-Lease": "guess"}).status_code == 409
    assert worker.post(f"{base}/heartbeat", json={"attempt": 1},
                       headers={"X-Run-Lease": "guess"}).json()["current"] is False
    assert stored(run["id"]) == before
    # the lease is in no response but the claim's
    for path in (f"/api/runs/{run['id']}", "/api/runs", f"/api/compare?ids={run['id']}"):
        assert lease not in client.get(path).text
    # superseded: the run is requeued after a lost heartbeat and claimed again
    with SessionLocal() as session:
        session.get(Run, run["id"]).heartbeat_at = utcnow() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT_S + 5)
        session.commit()
    assert run["id"] in sweep_once()["requeued"]
    fresh = worker.post(f"{base}/claim", json={"host": "h2", "device": "cpu"}).json()
    assert fresh["lease"] != lease and fresh["attempt"] == claimed["attempt"] + 1
    before = stored(run["id"])
    assert worker.post(f"{base}/epochs", json=forged, headers={"X-Run-Lease": lease}).status_code == 409
    assert worker.post(f"{base}/finish", json={"attempt": 1, "status": "succeeded"},
                       headers={"X-Run-Lease": lease}).status_code == 409
    assert stored(run["id"]) == before
    good = {"attempt": fresh["attempt"], "metrics": [metric(1, test_acc=0.5)]}
    assert worker.post(f"{base}/epochs", json=good, headers={"X-Run-Lease": fresh["lease"]}).status_code == 204


def test_an_admin_issued_worker_token_works_until_revoked(app) -> None:
    admin = LabTestClient(app, "root", "admin")
    made = admin.post("/api/worker-tokens", json={"label": "gpu-box-2"}).json()
    assert made["token"].startswith("cnw_")
    run = admin.post("/api/runs", json={"config": tiny_config()}).json()
    box = TestClient(app, headers={"Authorization": f"Bearer {made['token']}"})
    assert box.get("/api/runs").status_code == 403  # a worker credential reads no user routes
    assert box.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "b", "device": "cpu"}).status_code == 200
    assert admin.delete(f"/api/worker-tokens/{made['id']}").status_code == 204
    again = admin.post("/api/runs", json={"config": tiny_config()}).json()
    assert box.post(f"/api/worker/runs/{again['id']}/claim", json={"host": "b", "device": "cpu"}).status_code == 401


# --- ownership, quotas, the audit record ------------------------------------------------------------

def test_only_the_owner_or_an_admin_cancels_and_the_page_says_who(client) -> None:
    other = client.as_user("rex")
    admin = client.as_user("root", "admin")
    run = client.post("/api/runs", json={"config": tiny_config()}).json()
    r = other.post(f"/api/runs/{run['id']}/cancel")
    assert r.status_code == 403 and "belongs to ivy" in r.json()["detail"]
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "queued"
    r = admin.post(f"/api/runs/{run['id']}/cancel")
    assert r.status_code == 200 and r.json()["cancelled_by"] == "root" and "cancelled by root" in r.json()["reason"]
    assert other.delete(f"/api/runs/{run['id']}").status_code == 403
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
    actions = [(a["action"], a["actor"], a["target_id"]) for a in admin.get("/api/audit").json()["data"][:2]]
    assert actions == [("run.delete", "ivy", run["id"]), ("run.cancel", "root", run["id"])]


def test_a_body_naming_another_owner_is_refused(client) -> None:
    before = run_count()
    for path, body in (("/api/runs", {"owner": "root", "config": tiny_config()}),
                       ("/api/sweeps", {"name": "s", "owner": "root", "base_config": tiny_config(),
                                        "grid": {"seed": [1]}})):
        r = client.post(path, json=body)
        assert (r.status_code == 422 and r.json()["detail"][0]["field"] == "owner"
                and "ivy" in r.json()["detail"][0]["message"])
    assert run_count() == before
    assert client.post("/api/runs", json={"owner": "IVY", "config": tiny_config()}).status_code == 201


def test_quotas_refuse_and_queue_nothing(client, monkeypatch) -> None:
    from backend.core import queue

    quota = client.as_user("sam")
    monkeypatch.setattr(settings, "MAX_ACTIVE_RUNS_PER_USER", 2)
    monkeypatch.setattr(settings, "MAX_RUNS_PER_REQUEST", 3)
    assert quota.post("/api/runs", json={"config": tiny_config()}).status_code == 201
    messages, runs = queue.queued_message_count(), run_count()
    r = quota.post("/api/sweeps", json={"name": "big", "base_config": tiny_config(), "grid": {"seed": [1, 2, 3, 4]}})
    assert r.status_code == 429
    detail = r.json()["detail"][0]
    assert (detail["field"], detail["limit"], detail["current"]) == ("quota.runs_per_request", 3, 4)
    r = quota.post("/api/sweeps", json={"name": "two", "base_config": tiny_config(), "grid": {"seed": [1, 2]}})
    detail = r.json()["detail"][0]
    assert r.status_code == 429
    assert (detail["field"], detail["limit"], detail["current"]) == ("quota.active_runs_per_user", 2, 1)
    assert "sam has 1 queued or running runs; the quota is 2" in detail["message"]
    assert (queue.queued_message_count(), run_count()) == (messages, runs)
    assert quota.post("/api/runs", json={"config": tiny_config()}).status_code == 201  # 2 of 2
    assert quota.post("/api/runs", json={"config": tiny_config()}).status_code == 429
    monkeypatch.setattr(settings, "MAX_ACTIVE_RUNS_PER_USER", 0)  # 0: unlimited
    assert quota.post("/api/runs", json={"config": tiny_config()}).status_code == 201


def test_admins_manage_users_and_members_cannot(client) -> None:
    admin = client.as_user("root", "admin")
    assert client.post("/api/users", json={"username": "tess", "password": "tess's password"}).status_code == 403
    made = admin.post("/api/users", json={"username": "Tess", "display_name": "Tess T.", "password": "tess's password"})
    assert made.status_code == 201 and made.json()["username"] == "tess" and made.json()["can_sign_in"]
    again = admin.post("/api/users", json={"username": "TESS", "password": "another password"})
    assert again.status_code == 409 and again.json()["detail"][0]["field"] == "username"
    short = admin.post("/api/users", json={"username": "uma", "password": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["field"] == "password"
    r = admin.patch(f"/api/users/{made.json()['id']}", json={"role": "admin"})
    assert r.json()["role"] == "admin"
    me = admin.get("/api/me").json()
    assert admin.patch(f"/api/users/{me['id']}", json={"active": False}).status_code == 409  # not yourself


# --- modes ---------------------------------------------------------------------------------------

def test_local_mode_serves_the_local_admin_without_sign_in(app, monkeypatch) -> None:
    monkeypatch.setattr(settings, "AUTH", "local")
    c = TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
    me = c.get("/api/me").json()
    assert (me["username"], me["role"], me["via"], me["auth_mode"]) == ("local", "admin", "local", "local")
    run = c.post("/api/runs", json={"config": tiny_config()})
    assert run.status_code == 201 and run.json()["owner"] == "local"
    # no credentials is still no worker, and another site's page still cannot act
    assert c.post(f"/api/worker/runs/{run.json()['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 401
    assert c.post("/api/runs", json={"config": tiny_config()},
                  headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.get("/").status_code == 200 and "Sign out" not in c.get("/").text
    # a request that did not come over loopback (a backend bound to 0.0.0.0 by hand) gets no free admin
    remote = TestClient(app, base_url="http://127.0.0.1", client=("203.0.113.9", 50000))
    assert remote.get("/api/me", headers={"Host": "localhost"}).status_code == 401
    # the local admin's credentials are worth nothing once the lab requires sign-in
    local_token = c.post("/api/tokens", json={"label": "laptop"}).json()["token"]
    assert TestClient(app, headers={"Authorization": f"Bearer {local_token}"}).get("/api/me").status_code == 200
    monkeypatch.setattr(settings, "AUTH", "required")
    assert TestClient(app, headers={"Authorization": f"Bearer {local_token}"}).get("/api/me").status_code == 401
    admin = LabTestClient(app, "root", "admin")
    local_id = next(u["id"] for u in admin.get("/api/users").json()["data"] if u["username"] == "local")
    r = admin.patch(f"/api/users/{local_id}", json={"password": "now anyone could sign in"})
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "password"


def test_the_mode_defaults_by_the_address(monkeypatch) -> None:
    from backend.identity.mode import auth_mode

    monkeypatch.setattr(settings, "AUTH", "")
    for host, expected in (("127.0.0.1", "local"), ("127.0.0.2", "local"), ("::1", "local"), ("localhost", "local"),
                           ("0.0.0.0", "required"), ("10.1.2.3", "required"), ("lab.example.org", "required")):
        monkeypatch.setattr(settings, "HOST", host)
        assert auth_mode() == expected, host


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "CNNLAB_VAR_DIR": str(tmp_path), "CNNLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "CNNLAB_PORT": "1", **env}
    return subprocess.run([sys.executable, "-m", "backend.cli.serve"], cwd=ROOT, env=full, capture_output=True,
                          text=True,
                          timeout=60)


def test_the_backend_refuses_local_mode_on_a_network_address(tmp_path) -> None:
    done = serve(tmp_path, CNNLAB_AUTH="local", CNNLAB_HOST="0.0.0.0")
    assert done.returncode == 2 and "only runs on a loopback address" in done.stderr


def test_the_backend_refuses_required_mode_without_an_admin(tmp_path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'x.db'}")
    done = serve(tmp_path, CNNLAB_AUTH="required", CNNLAB_HOST="0.0.0.0")
    assert done.returncode == 2 and "python -m backend.cli.users create NAME --admin" in done.stderr
    done = serve(tmp_path, CNNLAB_HOST="0.0.0.0")  # required is the default off loopback
    assert done.returncode == 2 and "no active admin" in done.stderr


def test_the_openapi_page_documents_credentials_and_refusals(client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"APIToken", "Session", "WorkerCredential"} <= set(spec["components"]["securitySchemes"])
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            schemes = {name for requirement in op.get("security", []) for name in requirement}
            if path == "/api/health":
                assert not schemes
                continue
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"
            expected = {"WorkerCredential"} if path.startswith("/api/worker/") else {"APIToken", "Session"}
            assert schemes == expected, f"{method} {path}: {schemes}"
    assert "429" in spec["paths"]["/api/sweeps"]["post"]["responses"]


def test_the_study_export_keeps_its_inline_scripts_and_reaches_nothing(client) -> None:
    study = client.post("/api/studies", json={"name": "export", "entries": [
        {"key": "a", "label": "A", "config": tiny_config()}]}).json()
    csp = client.get(f"/api/studies/{study['id']}/report.html").headers["content-security-policy"]
    assert "script-src 'unsafe-inline'" in csp and "default-src 'none'" in csp and "connect-src" not in csp


def test_over_https_the_session_cookie_is_secure(app) -> None:
    user_token("vic")
    signin_limiter.clear()
    c = TestClient(app, base_url="https://testserver")
    r = c.post("/login", data={"username": "vic", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_the_people_command_line(monkeypatch, capsys) -> None:
    import io

    from backend.cli import users as cli

    monkeypatch.setattr("sys.stdin", io.StringIO("wes's password\n"))
    assert cli.main(["create", "Wes", "--display-name", "Wes W.", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["set-password", "wes", "--password-stdin"]) == 2  # too short: refused, named
    assert "password: needs at least 8 characters" in capsys.readouterr().err
    assert cli.main(["token", "wes", "--name", "ci"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    from backend.main import create_app

    script = TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})
    assert script.get("/api/me").json()["display_name"] == "Wes W."
    monkeypatch.setattr("sys.stdin", io.StringIO("wes's new password\n"))
    assert cli.main(["set-password", "WES", "--password-stdin"]) == 0
    assert cli.main(["deactivate", "wes"]) == 0
    assert script.get("/api/me").status_code == 401  # a deactivated user's token is refused
    assert cli.main(["list"]) == 0
    assert any(line.split()[:3] == ["wes", "member", "inactive"] for line in capsys.readouterr().out.splitlines())


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
