"""Ownership, quotas and the audit record: only the owner or an admin cancels or deletes a run (and
the audit says who), a body cannot name another owner, and quotas refuse and queue nothing."""

from __future__ import annotations

from backend.core.settings import settings
from tests.backend.identity.helpers import run_count
from tests.utils.factories import tiny_config


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
