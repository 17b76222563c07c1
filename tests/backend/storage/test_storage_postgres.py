"""The garbage collector on the lab's PostgreSQL, as its command line runs beside a backend: one
collection at a time across processes (the advisory lock), and the retention's row lock and delete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.storage.service import GC_LOCK_KEY
from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config
from tests.utils.services import ROOT, wait_for

pytestmark = pytest.mark.integration


def finished_with_artefacts(lab, member: httpx.Client) -> int:
    r = member.post("/api/runs", json={"config": tiny_config()})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    with httpx.Client(base_url=lab.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"}) as worker:
        claim = worker.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
        assert claim.status_code == 200, claim.text
        worker.headers["X-Run-Lease"] = claim.json()["lease"]
        base = f"/api/worker/runs/{run_id}"
        assert worker.post(f"{base}/epochs", json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
        for kind in ("best", "last"):
            assert worker.put(f"{base}/checkpoints/{kind}?attempt=1&epoch=1", content=b"w" * 100).status_code == 204
        assert worker.put(f"{base}/model?epoch=1", content=b"onnx").status_code == 204
        assert worker.post(f"{base}/finish", json={"attempt": 1, "status": "succeeded"}).status_code == 204
    return run_id


def test_a_collection_waits_for_another_process_then_keeps_only_the_model_of_an_old_run(lab, pg_url) -> None:
    member = lab.member("storage-pg")
    run_id = finished_with_artefacts(lab, member)
    folder = Path(lab.env["CNNLAB_VAR_DIR"]) / "checkpoints" / f"run_{run_id}"
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "last.pt", "model.onnx"]
    engine = create_engine(pg_url)
    with engine.connect() as db:
        db.execute(text("UPDATE runs SET finished_at = now() - interval '400 days' WHERE id = :id"), {"id": run_id})
        db.commit()
    env = {**lab.env, "CNNLAB_RETENTION_DAYS": "365", "CNNLAB_RETENTION_KEEP": "model"}
    with engine.connect() as other:  # another process collecting
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": GC_LOCK_KEY})
        gc = subprocess.Popen([sys.executable, "-m", "backend.cli.storage", "gc"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND NOT granted "
                           "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            wait_for(lambda: other.scalar(waiting, {"key": GC_LOCK_KEY}) == 1, 60, "the command to wait for the lock")
            assert gc.poll() is None and sorted(p.name for p in folder.iterdir()) == ["best.pt", "last.pt",
                                                                                      "model.onnx"]
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": GC_LOCK_KEY})
            other.commit()
        out, err = gc.communicate(timeout=120)
    assert gc.returncode == 0, err
    assert f"removed {folder / 'best.pt'}" in out and f"runs {run_id}" in out
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx"]
    detail = member.get(f"/api/runs/{run_id}").json()
    assert detail["kept_checkpoints"] == [] and member.get(f"/api/runs/{run_id}/model.onnx").content == b"onnx"
    engine.dispose()
