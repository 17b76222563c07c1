"""Local and required modes: the local admin is served on loopback only and is worth nothing once
sign-in is required, the mode defaults by the address, and the backend refuses to start open
(local mode on a network address) or locked (required mode without an admin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from backend.cli.migrate import upgrade
from backend.core.settings import settings
from tests.utils.auth import LabTestClient
from tests.utils.factories import tiny_config
from tests.utils.services import ROOT


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


# --- starting the backend -------------------------------------------------------------------------

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
