"""Storage that does not fill the disk: a deleted run's checkpoints and model leave the disk (also
after a crash between the rows and the files: the orphan sweep), the retention keeps only the model
or only best + last of old finished runs and never touches an active one, the disk use a member and
an admin see, the per-user storage quota (429 naming it) and its command line. Every file is written
through the worker's upload routes, as a worker writes it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.statuses import ModelStatus, RetentionKeep
from backend.core.tables import AuditEvent, Checkpoint, Run, RunModel, utcnow
from backend.runs import service as run_service
from backend.storage import service as storage
from tests.utils.factories import metric, tiny_config
from tests.utils.services import ROOT

BEST, LAST, MODEL = b"b" * 3000, b"l" * 2000, b"m" * 700  # sizes the numbers are checked against
HOUR = 3600


def fresh_user(client, role: str = "member"):
    """A user of this test alone: their usage is only what the test writes."""
    return client.as_user(f"st-{uuid.uuid4().hex[:10]}", role)


def claimed(c, epochs: int = 3) -> int:
    r = c.post("/api/runs", json={"config": tiny_config(epochs=epochs)})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert c.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    return run_id


def upload_artefacts(c, run_id: int, model: bool = True) -> None:
    base = f"/api/worker/runs/{run_id}"
    assert c.post(f"{base}/epochs", json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
    assert c.put(f"{base}/checkpoints/best?attempt=1&epoch=1", content=BEST).status_code == 204
    assert c.put(f"{base}/checkpoints/last?attempt=1&epoch=1", content=LAST).status_code == 204
    if model:
        assert c.put(f"{base}/model?epoch=1", content=MODEL).status_code == 204


def finished(c, model: bool = True) -> int:
    """A succeeded run with its best and last checkpoints and (unless said) its model, on disk."""
    run_id = claimed(c)
    upload_artefacts(c, run_id, model)
    r = c.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "succeeded"})
    assert r.status_code == 204, r.text
    return run_id


def folder(run_id: int) -> Path:
    return Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"


def files(run_id: int) -> list[str]:
    return sorted(p.name for p in folder(run_id).iterdir()) if folder(run_id).is_dir() else []


def age(path: Path, seconds: float) -> None:
    """Make a file (or folder) look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def stale_temporary(run_id: int) -> Path:
    """A temporary an upload cut short left in the run's folder, two hours ago."""
    tmp = folder(run_id) / ".last.abc123.upload"
    tmp.write_bytes(b"half a checkpoint")
    age(tmp, 2 * HOUR)
    return tmp


def make_old(run_id: int, days: float) -> None:
    with SessionLocal() as session:
        session.get(Run, run_id).finished_at = utcnow() - timedelta(days=days)
        session.commit()


def checkpoint_kinds(run_id: int) -> list[str]:
    with SessionLocal() as session:
        return sorted(c.kind for c in session.query(Checkpoint).filter_by(run_id=run_id))


# --- deletion -------------------------------------------------------------------------------------

def test_deleting_a_run_removes_its_checkpoints_its_model_and_its_folder(client) -> None:
    c = fresh_user(client)
    run_id = finished(c)
    stale_temporary(run_id)
    assert files(run_id) == [".last.abc123.upload", "best.pt", "last.pt", "model.onnx"]
    assert c.delete(f"/api/runs/{run_id}").status_code == 204
    assert not folder(run_id).exists()  # the model and the stale temporary too, not only the checkpoints


def test_a_crash_between_the_delete_and_its_files_leaves_orphans_the_sweep_removes_once_an_hour_old(client) -> None:
    c = fresh_user(client)
    gone, kept = finished(c), finished(c)
    with SessionLocal() as session:  # the rows deleted, then the process died before the files went
        run_service.delete_run(session, session.get(Run, gone))
    for run_id in (gone, kept):
        for name in files(run_id):
            age(folder(run_id) / name, 2 * HOUR)
        age(folder(run_id), 2 * HOUR)
    young = folder(gone) / ".best.young.upload"  # an upload in flight is younger than an hour: it stays
    young.write_bytes(b"in flight")

    removed = storage.collect()

    assert {str(folder(gone) / n) for n in ("best.pt", "last.pt", "model.onnx")} <= set(removed.files)
    assert files(gone) == [".best.young.upload"]
    assert files(kept) == ["best.pt", "last.pt", "model.onnx"]  # named by rows: never an orphan, however old
    young.unlink()
    age(folder(gone), 2 * HOUR)
    storage.collect()
    assert not folder(gone).exists()  # an old folder left empty goes too


def test_the_sweep_looks_only_in_run_folders(client) -> None:
    other = Path(settings.CHECKPOINT_DIR) / "not-a-run" / "keep.bin"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"someone else's")
    age(other, 2 * HOUR)
    storage.collect()
    assert other.exists()
    other.unlink()


def test_the_sweep_keeps_named_files_whichever_spelling_of_the_folder_wrote_their_rows(client, monkeypatch,
                                                                                      tmp_path) -> None:
    c = fresh_user(client)
    run_id = finished(c)
    for name in files(run_id):
        age(folder(run_id) / name, 2 * HOUR)
    real = Path(os.path.realpath(settings.CHECKPOINT_DIR))
    alias = tmp_path / "mounted"  # the same folder through a symlinked mount
    alias.symlink_to(real, target_is_directory=True)
    monkeypatch.setattr(settings, "CHECKPOINT_DIR", alias)
    storage.collect()
    assert files(run_id) == ["best.pt", "last.pt", "model.onnx"]
    # rows written relative to the backend's folder of then, the sweep run from another folder
    monkeypatch.setattr(settings, "CHECKPOINT_DIR", real)
    with SessionLocal() as session:
        for row in session.query(Checkpoint).filter_by(run_id=run_id):
            row.path = os.path.relpath(row.path, real.parent)
        session.get(RunModel, run_id).path = os.path.join(real.name, f"run_{run_id}", "model.onnx")
        session.commit()
    monkeypatch.chdir(tmp_path)
    storage.collect()
    assert files(run_id) == ["best.pt", "last.pt", "model.onnx"]


def test_deleting_a_run_whose_folder_is_a_symlink_removes_the_link_only(client, tmp_path) -> None:
    c = fresh_user(client)
    run_id = finished(c)
    outside = tmp_path / "elsewhere"
    folder(run_id).rename(outside)  # the run's folder is now a link to files outside the artefact folder
    folder(run_id).symlink_to(outside, target_is_directory=True)
    assert c.delete(f"/api/runs/{run_id}").status_code == 204
    assert not folder(run_id).exists() and not folder(run_id).is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["best.pt", "last.pt", "model.onnx"]


# --- retention ------------------------------------------------------------------------------------

@pytest.fixture
def retention(monkeypatch):
    """Retention of 365 days: only the runs a test makes 400 days old are old enough (the tests'
    database is shared with other modules, whose runs are all young)."""
    def set_keep(keep: RetentionKeep) -> None:
        monkeypatch.setattr(settings, "RETENTION_DAYS", 365.0)
        monkeypatch.setattr(settings, "RETENTION_KEEP", keep)
    return set_keep


def test_retention_model_keeps_only_the_model_of_old_finished_runs(client, retention) -> None:
    retention(RetentionKeep.MODEL)
    c = fresh_user(client)
    old, no_model, young, exporting = finished(c), finished(c, model=False), finished(c), finished(c)
    active = claimed(c)
    upload_artefacts(c, active)
    for run_id in (old, no_model, exporting, active):
        make_old(run_id, 400)  # an active run with an old finished_at: its status keeps it safe
    with SessionLocal() as session:
        session.get(RunModel, exporting).status = ModelStatus.EXPORTING  # an export under way needs its checkpoint
        session.commit()

    removed = storage.collect()

    assert removed.trimmed_runs == [old, no_model]
    assert files(old) == ["model.onnx"] and checkpoint_kinds(old) == []
    assert not folder(no_model).exists() and checkpoint_kinds(no_model) == []  # its folder emptied, then gone
    for run_id in (young, exporting, active):
        assert files(run_id) == ["best.pt", "last.pt", "model.onnx"] and checkpoint_kinds(run_id) == ["best", "last"]
    # the run says so: no checkpoint links, its model still downloads, a new export is refused (409)
    detail = c.get(f"/api/runs/{old}").json()
    assert detail["kept_checkpoints"] == []
    said = detail["checkpoints_removed"]
    assert re.fullmatch(r"Its checkpoints were removed by the lab's retention on \d{4}-\d\d-\d\d "
                        r"\(its model is kept\)\.", said), said
    assert c.get(f"/api/runs/{young}").json()["checkpoints_removed"] is None
    assert c.get(f"/api/runs/{old}/checkpoints/best").status_code == 404
    assert c.get(f"/api/runs/{old}/model.onnx").content == MODEL
    r = c.post(f"/api/runs/{no_model}/export")
    assert r.status_code == 409 and "removed by the lab's retention" in r.json()["detail"]
    with SessionLocal() as session:
        audit = session.query(AuditEvent).filter_by(action="storage.retention", target_id=old).one()
    assert "CNNLAB_RETENTION_DAYS=365" in audit.summary and "best, last" in audit.summary
    assert storage.collect().trimmed_runs == []  # nothing more to drop


def test_retention_best_last_keeps_the_checkpoints_and_the_model_and_drops_stale_temporaries(client,
                                                                                           retention) -> None:
    retention(RetentionKeep.BEST_LAST)
    c = fresh_user(client)
    old, active = finished(c), claimed(c)
    upload_artefacts(c, active)
    make_old(old, 400)
    make_old(active, 400)
    stale_temporary(old)
    active_tmp = stale_temporary(active)

    removed = storage.collect()

    assert removed.trimmed_runs == [] and str(folder(old) / ".last.abc123.upload") in removed.files
    assert files(old) == ["best.pt", "last.pt", "model.onnx"] and checkpoint_kinds(old) == ["best", "last"]
    assert active_tmp.exists() and files(active) == [".last.abc123.upload", "best.pt", "last.pt", "model.onnx"]


def test_no_retention_by_default_keeps_everything(client) -> None:
    assert settings.RETENTION_DAYS is None
    c = fresh_user(client)
    run_id = finished(c)
    make_old(run_id, 4000)
    storage.collect()
    assert files(run_id) == ["best.pt", "last.pt", "model.onnx"]


# --- disk use -------------------------------------------------------------------------------------

def test_disk_use_counts_what_was_written_per_run_and_per_user(client) -> None:
    c = fresh_user(client)
    with_model, without = finished(c), finished(c, model=False)
    written = {run_id: sum(p.stat().st_size for p in folder(run_id).iterdir()) for run_id in (with_model, without)}
    assert written == {with_model: len(BEST + LAST + MODEL), without: len(BEST + LAST)}

    mine = c.get("/api/storage").json()
    assert mine["me"] | {"username": None} == {
        "username": None, "runs": 2, "total_bytes": sum(written.values()), "checkpoint_bytes": 2 * len(BEST + LAST),
        "model_bytes": len(MODEL), "quota_bytes": None, "quota_source": None}
    assert [(r["id"], r["total_bytes"], r["checkpoint_bytes"], r["model_bytes"]) for r in mine["runs"]] == [
        (with_model, written[with_model], len(BEST + LAST), len(MODEL)),
        (without, written[without], len(BEST + LAST), 0)]
    assert mine["users"] is None  # a member sees their own and the lab's
    assert mine["lab"]["total_bytes"] >= sum(written.values())
    assert 0 < mine["lab"]["disk_free_bytes"] <= mine["lab"]["disk_total_bytes"]
    assert c.get("/api/storage?limit=1").json()["runs"][0]["id"] == with_model  # the largest first
    assert c.get("/api/storage?limit=0").status_code == 422

    admin = c.as_user("root", "admin").get("/api/storage").json()
    theirs = next(u for u in admin["users"] if u["username"] == c.username)
    assert theirs == {"username": c.username, "runs": 2, "total_bytes": sum(written.values()), "quota_bytes": None}
    assert c.delete(f"/api/runs/{without}").status_code == 204
    assert c.get("/api/storage").json()["me"]["total_bytes"] == written[with_model]


# --- the quota ------------------------------------------------------------------------------------

def test_a_new_run_past_the_storage_quota_is_refused_429_naming_it(client, monkeypatch) -> None:
    c = fresh_user(client)
    finished(c)  # 5,700 bytes
    used = len(BEST + LAST + MODEL)
    monkeypatch.setattr(settings, "STORAGE_QUOTA_BYTES", used + 1)
    assert c.post("/api/runs", json={"config": tiny_config()}).status_code == 201  # under it: admitted
    monkeypatch.setattr(settings, "STORAGE_QUOTA_BYTES", 5000)
    r = c.post("/api/runs", json={"config": tiny_config()})
    assert r.status_code == 429
    assert r.json()["detail"] == [{
        "field": "quota.storage_bytes_per_user", "limit": 5000, "current": used,
        "message": "storage quota: 5.7 kB used of 5.0 kB (CNNLAB_STORAGE_QUOTA_BYTES); delete runs or ask an admin"}]
    sweep = c.post("/api/sweeps", json={"name": "s", "base_config": tiny_config(), "grid": {"seed": [1, 2]}})
    assert sweep.status_code == 429 and sweep.json()["detail"][0]["field"] == "quota.storage_bytes_per_user"
    assert c.get("/api/storage").json()["me"]["quota_bytes"] == 5000


def test_an_admin_sets_a_users_own_quota_over_the_labs(client, monkeypatch) -> None:
    monkeypatch.setattr(settings, "STORAGE_QUOTA_BYTES", None)
    c = fresh_user(client)
    admin = c.as_user("root", "admin")
    finished(c)
    user_id = c.get("/api/me").json()["id"]
    assert c.patch(f"/api/users/{user_id}", json={"storage_quota_bytes": 10**9}).status_code == 403  # not themself
    for bad in (0, -1, 10**15 + 1):
        r = admin.patch(f"/api/users/{user_id}", json={"storage_quota_bytes": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "storage_quota_bytes"
    r = admin.patch(f"/api/users/{user_id}", json={"storage_quota_bytes": 1000})
    assert r.status_code == 200 and r.json()["storage_quota_bytes"] == 1000
    refused = c.post("/api/runs", json={"config": tiny_config()})
    assert refused.status_code == 429
    assert refused.json()["detail"][0]["message"] == (f"storage quota: 5.7 kB used of 1.0 kB ({c.username}'s own, set "
                                                      "by an admin); delete runs or ask an admin")
    renamed = admin.patch(f"/api/users/{user_id}", json={"display_name": "Renamed"})
    assert renamed.json()["storage_quota_bytes"] == 1000  # left out: unchanged
    cleared = admin.patch(f"/api/users/{user_id}", json={"storage_quota_bytes": None})
    assert cleared.json()["storage_quota_bytes"] is None
    assert c.post("/api/runs", json={"config": tiny_config()}).status_code == 201  # the lab's: none
    with SessionLocal() as session:
        actions = [a.summary for a in session.query(AuditEvent).filter_by(action="user.storage_quota",
                                                                          target_id=user_id)]
    assert actions == [f"storage quota of {c.username} set to 1000 bytes",
                       f"storage quota of {c.username} set to the lab default"]


# --- on demand: the API and the command line ----------------------------------------------------

def test_an_admin_collects_on_demand_and_is_told_what_went(client) -> None:
    c = fresh_user(client)
    run_id = finished(c)
    tmp = stale_temporary(run_id)
    assert c.post("/api/storage/gc").status_code == 403
    r = c.as_user("root", "admin").post("/api/storage/gc")
    assert r.status_code == 200, r.text
    body = r.json()
    assert str(tmp) in body["files"] and body["removed_files"] == len(body["files"])
    assert body["freed_bytes"] >= len(b"half a checkpoint") and body["trimmed_runs"] == []
    assert not tmp.exists()


def test_the_command_line_collects_and_tells_usage(client) -> None:
    c = fresh_user(client)
    run_id = finished(c)
    tmp = stale_temporary(run_id)
    done = subprocess.run([sys.executable, "-m", "backend.cli.storage", "gc"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert f"removed {tmp}" in done.stdout and "files removed" in done.stdout
    assert not tmp.exists() and files(run_id) == ["best.pt", "last.pt", "model.onnx"]
    usage = subprocess.run([sys.executable, "-m", "backend.cli.storage", "usage"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env=os.environ.copy())
    assert usage.returncode == 0, usage.stderr
    line = next(x for x in usage.stdout.splitlines() if x.startswith(c.username))
    assert line.split()[1:] == ["1", "5.7", "kB", "-"]


def test_human_bytes() -> None:
    assert [storage.human_bytes(n) for n in (0, 999, 1000, 1_234_567, 1_200_000_000, 10**18)] == [
        "0 B", "999 B", "1.0 kB", "1.2 MB", "1.2 GB", "1000.0 PB"]
