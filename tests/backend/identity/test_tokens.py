"""Credentials for scripts and workers: an API token is shown once, stored hashed and refused once
revoked or expired; forged worker reports (no lease, a wrong or superseded lease, a user's token) are
refused and store nothing; an admin-issued worker token works until revoked; the OpenAPI page
documents every credential and refusal."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Checkpoint, EpochMetric, Run, utcnow
from tests.utils.auth import WORKER_TOKEN, LabTestClient
from tests.utils.factories import metric, tiny_config


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


# --- workers: the credential and the lease --------------------------------------------------------

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
