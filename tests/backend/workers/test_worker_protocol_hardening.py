"""The worker protocol's reports checked like epoch reports (an upload's epoch in the run's planned
epochs, no empty upload, a heartbeat's batch within its epoch, a class report's images in base64),
uploads written off the event loop, and the backend process closing silent and half-sent
connections."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backend.cli.migrate import upgrade
from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.tables import Checkpoint, Run, RunEvaluation, RunModel, utcnow
from backend.runs import service as run_service
from backend.workers import routes as worker_routes
from tests.utils.factories import tiny_config
from tests.utils.services import ROOT, free_port, wait_for


def claimed(client, epochs: int = 3) -> int:
    run = client.post("/api/runs", json={"config": tiny_config(epochs=epochs)}).json()
    assert client.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "h", "device": "cpu"}).status_code == 200
    return run["id"]


def refusal(response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]


def checkpoints(run_id: int) -> list[tuple[str, int]]:
    with SessionLocal() as session:
        return [(c.kind, c.epoch) for c in session.query(Checkpoint).filter_by(run_id=run_id)]


def test_an_upload_for_an_epoch_the_run_never_plans_is_refused_before_its_body_is_read(client) -> None:
    run_id = claimed(client, epochs=3)
    read: list[int] = []

    def body():
        read.append(1)
        yield b"weights"

    for kind in ("last", "best"):
        r = client.put(f"/api/worker/runs/{run_id}/checkpoints/{kind}?attempt=1&epoch=99", content=body())
        assert refusal(r) == {"field": "epoch", "message": "99 is over the run's 3 planned epochs"}
    r = client.put(f"/api/worker/runs/{run_id}/model?epoch=4", content=body())
    assert refusal(r) == {"field": "epoch", "message": "4 is over the run's 3 planned epochs"}
    assert read == []  # refused before a byte was read
    assert checkpoints(run_id) == []
    with SessionLocal() as session:
        assert session.get(RunModel, run_id) is None
    folder = Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"
    assert not folder.exists() or list(folder.iterdir()) == []
    # the last planned epoch is one
    ok = client.put(f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=3", content=b"weights")
    assert ok.status_code == 204 and checkpoints(run_id) == [("last", 3)]


def test_the_resume_epoch_a_claim_gets_is_never_one_the_run_does_not_plan(client) -> None:
    run_id = claimed(client, epochs=3)
    client.put(f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=99", content=b"weights")
    with SessionLocal() as session:  # the heartbeat is lost: the reaper requeues the run
        session.get(Run, run_id).heartbeat_at = utcnow() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT_S + 5)
        session.commit()
    with SessionLocal() as session:
        assert run_service.requeue_lost(session, session.get(Run, run_id), settings.MAX_ATTEMPTS)
        session.commit()
    again = client.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
    assert again.status_code == 200 and again.json()["resume_epoch"] == 0


def test_an_empty_upload_is_refused(client) -> None:
    run_id = claimed(client)
    r = client.put(f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=1", content=b"")
    error = refusal(r)
    assert error["field"] == "body" and "no bytes" in error["message"]

    def nothing():  # streamed, no length: counted once read
        yield b""

    r = client.put(f"/api/worker/runs/{run_id}/checkpoints/best?attempt=1&epoch=1", content=nothing())
    assert refusal(r)["field"] == "body"
    r = client.put(f"/api/worker/runs/{run_id}/model?epoch=1", content=b"")
    assert refusal(r)["field"] == "body"
    assert checkpoints(run_id) == []
    folder = Path(settings.CHECKPOINT_DIR) / f"run_{run_id}"
    assert sorted(p.name for p in folder.iterdir()) == []  # no temporary file left


def progress(batch: int, batches: int) -> dict[str, Any]:
    return {"attempt": 1, "progress": {"epoch": 1, "batch": batch, "batches": batches, "images_per_s": 100.0}}


def test_a_heartbeat_with_more_batches_done_than_the_epoch_has_is_refused(client) -> None:
    run_id = claimed(client)
    url = f"/api/worker/runs/{run_id}/heartbeat"
    error = refusal(client.post(url, json=progress(11, 10)))
    assert error["field"] == "progress.batch" and "11" in error["message"] and "batches (10)" in error["message"]
    assert client.post(url, json=progress(10, 10)).status_code == 200  # the epoch's last batch
    assert client.post(url, json=progress(0, 10)).status_code == 200


def report(sample_png: str) -> dict[str, Any]:
    return {"attempt": 1, "report": {
        "epoch": 1, "classes": ["a", "b"], "accuracy": 0.5, "per_class_acc": [0.5, 0.5], "confusion": [[1, 1], [1, 1]],
        "misclassified": [], "samples": [{"index": 0, "true": 1, "png": sample_png}]}}


@pytest.mark.parametrize("garbage", [
    "not base64 at all!", "<script>alert(1)</script>", "iVBORw0KGgo", "iVBORw0KGgo=x", "====", "", "a\nb=",
    "iVBO-w0K_go=",  # the URL-safe alphabet, not the standard one
])
def test_a_class_report_sample_that_is_not_base64_is_refused(client, garbage: str) -> None:
    run_id = claimed(client)
    error = refusal(client.put(f"/api/worker/runs/{run_id}/evaluation", json=report(garbage)))
    assert error["field"] == "report.samples[0].png", error
    with SessionLocal() as session:
        assert session.get(RunEvaluation, run_id) is None


def test_a_class_report_sample_in_base64_is_stored(client) -> None:
    run_id = claimed(client)
    for png in ("iVBORw0KGgo=", base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()):
        assert client.put(f"/api/worker/runs/{run_id}/evaluation", json=report(png)).status_code == 204
        assert client.get(f"/api/runs/{run_id}/evaluation").json()["samples"][0]["png"] == png


def test_a_report_stored_before_samples_were_checked_still_reads(client) -> None:
    run_id = claimed(client)
    stored = report("iVBORw0KGgo=")["report"]
    stored["samples"][0]["png"] = "stored before the check"
    with SessionLocal() as session:
        session.add(RunEvaluation(run_id=run_id, epoch=1, report=stored))
        session.commit()
    r = client.get(f"/api/runs/{run_id}/evaluation")
    assert r.status_code == 200 and r.json()["samples"][0]["png"] == "stored before the check"


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_an_upload_is_written_and_hashed_off_the_event_loop(client, monkeypatch) -> None:
    calls: list[tuple[str, bool]] = []
    real_sha256, real_mkstemp = hashlib.sha256, tempfile.mkstemp

    class Hasher:
        def __init__(self) -> None:
            self.inner = real_sha256()

        def update(self, data: bytes) -> None:
            calls.append(("hash", on_event_loop()))
            self.inner.update(data)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        calls.append(("mkstemp", on_event_loop()))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(worker_routes, "hashlib", SimpleNamespace(sha256=Hasher))
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    real_write = getattr(worker_routes, "_write", None)

    def write(out, hasher, data: bytes) -> None:
        calls.append(("write", on_event_loop()))
        assert real_write is not None
        real_write(out, hasher, data)

    monkeypatch.setattr(worker_routes, "_write", write, raising=False)
    run_id = claimed(client)
    chunks = [bytes([i]) * 600_000 for i in range(3)]  # over a write batch: more than one write
    r = client.put(f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=1", content=iter(chunks))
    assert r.status_code == 204, r.text
    kinds = {kind for kind, _ in calls}
    assert {"mkstemp", "hash", "write"} <= kinds, calls
    assert [call for call in calls if call[1]] == [], f"on the event loop: {calls}"
    stored = (Path(settings.CHECKPOINT_DIR) / f"run_{run_id}" / "last.pt").read_bytes()
    assert stored == b"".join(chunks)
    with SessionLocal() as session:
        row = session.query(Checkpoint).filter_by(run_id=run_id).one()
        assert (row.size_bytes, row.sha256) == (len(stored), real_sha256(stored).hexdigest())


# --- connections: the backend as a real process (python -m backend.cli.serve) ---

@pytest.fixture(scope="module")
def backend_process(tmp_path_factory):
    """`python -m backend.cli.serve` on a free port, on loopback in local mode, closing a request head
    that has not fully arrived 1 s after the connection opened (or its last response ended)."""
    tmp = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{tmp / 'lab.db'}"
    upgrade(url)
    port = free_port()
    env = {**os.environ, "CNNLAB_VAR_DIR": str(tmp), "CNNLAB_DATABASE_URL": url, "CNNLAB_AUTH": "local",
           "CNNLAB_HOST": "127.0.0.1", "CNNLAB_PORT": str(port), "CNNLAB_HEADER_TIMEOUT_S": "1",
           "CNNLAB_KEEPALIVE_S": "1", "CNNLAB_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}"}
    log = tmp / "backend.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "backend.cli.serve"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)

    def healthy() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return read_until_closed(s).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    try:
        wait_for(lambda: proc.poll() is not None or healthy(), 60, "the backend to answer")
        assert proc.poll() is None, log.read_text()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


BOUND_S = 30.0  # only so that a connection the server keeps open fails the test instead of hanging it


def read_until_closed(sock: socket.socket, bound_s: float = BOUND_S) -> bytes:
    """Everything the server sends until it closes the connection; raises TimeoutError if it keeps
    the connection open past ``bound_s`` with nothing to send."""
    sock.settimeout(bound_s)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def closed_by_the_server(sock: socket.socket) -> bytes:
    try:
        return read_until_closed(sock)
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {BOUND_S:g} s")


def test_a_connection_that_sends_nothing_is_closed(backend_process) -> None:
    with socket.create_connection(("127.0.0.1", backend_process), timeout=5) as s:
        assert closed_by_the_server(s) == b""


def test_a_request_head_sent_half_way_is_closed(backend_process) -> None:
    with socket.create_connection(("127.0.0.1", backend_process), timeout=5) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert closed_by_the_server(s) == b""


def test_an_idle_or_half_sent_next_request_on_a_kept_alive_connection_is_closed(backend_process) -> None:
    request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", backend_process), timeout=5) as s:
        s.sendall(request)
        received = closed_by_the_server(s)  # uvicorn's keep-alive timer
        assert received.startswith(b"HTTP/1.1 200") and received.count(b"HTTP/1.1") == 1
    with socket.create_connection(("127.0.0.1", backend_process), timeout=5) as s:
        s.sendall(request)
        assert one_response(s).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /api/health HTTP/1.1\r\n")  # the next request starts after it, and stops half-way
        assert closed_by_the_server(s) == b""


def one_response(sock: socket.socket) -> bytes:
    """One whole response (its head and Content-Length bytes of body) from a kept-alive connection."""
    sock.settimeout(BOUND_S)
    received = b""

    def more() -> None:
        nonlocal received
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-response: {received!r}"
        received += chunk

    while b"\r\n\r\n" not in received:
        more()
    head = received.split(b"\r\n\r\n", 1)[0]
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(received) < len(head) + 4 + length:
        more()
    return received


def test_a_request_whose_head_arrived_is_not_cut_while_its_body_comes_slowly(backend_process) -> None:
    body = b'{"config": {}}'
    with socket.create_connection(("127.0.0.1", backend_process), timeout=5) as s:
        s.sendall(b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        s.settimeout(3.0)  # three header timeouts: the head is in, so the guard leaves the request be
        with pytest.raises(TimeoutError):
            s.recv(1)
        s.sendall(body)
        assert closed_by_the_server(s).startswith(b"HTTP/1.1 422")
