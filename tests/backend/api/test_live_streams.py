"""Live pages under a lab's load, against a real uvicorn in this process: event streams hold no
database connection (the pool's timeout is set low, so starvation fails fast instead of slowly),
their caps are reachable, one snapshot serves every stream of a change, and nothing blocks the
event loop — not even the heaviest classify request the lab allows."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from backend.core import events, notifier
from backend.core.settings import settings
from backend.models import prediction
from backend.training.config import TrainConfig
from tests.utils.auth import WORKER_TOKEN, user_token
from tests.utils.datasets import make_arrays
from tests.utils.factories import metric, tiny_config
from tests.utils.live_server import OpenStream, serving
from tests.utils.services import PG_ADMIN_URL, port_open, require, require_redis

ARCH = {"family": "compact", "stages": [[8], [16]], "num_classes": 3, "name": "tiny3"}


@pytest.fixture(scope="module")
def served():
    """The app on a real socket; its sessions come from a pool of SQLite's 5 + 10 connections
    that answers 'no connection' after 2 s instead of 30."""
    from backend.api import health
    from backend.cli.migrate import upgrade
    from backend.core import db
    from backend.main import create_app

    upgrade()
    user_token("root", "admin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "DB_POOL_TIMEOUT_S", 2.0)
        small = db.make_engine(settings.DATABASE_URL)
        assert small.pool.size() == 5 and small.pool._max_overflow == 10  # type: ignore[attr-defined]
        db.SessionLocal.configure(bind=small)
        mp.setattr(health, "engine", small)
        try:
            with serving(create_app()) as server:
                yield server
        finally:
            db.SessionLocal.configure(bind=db.engine)
            small.dispose()


def worker_call(server, path: str, **kwargs) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"}) as w:
        return w.post(path, **kwargs)


def queued_run(client: httpx.Client, **config) -> int:
    r = client.post("/api/runs", json={"config": tiny_config(**config)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def claim(server, run_id: int) -> str:
    r = worker_call(server, f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
    assert r.status_code == 200, r.text
    return r.json()["lease"]


def close_all(streams: list[OpenStream]) -> None:
    for stream in streams:
        stream.close()


@pytest.mark.parametrize("per_user", [(16,), (8, 7)], ids=["16 of one user", "15 of two users"])
def test_open_streams_hold_no_connection_while_others_are_served(served, per_user) -> None:
    """The re-test's finding: each stream kept the session that authenticated it (its token used
    within the minute, so nothing committed it), and SQLite's pool of 15 stalled every route."""
    owners = [served.client(user_token(f"streamer-{len(per_user)}-{i}")) for i in range(len(per_user))]
    run_id = queued_run(owners[0])
    streams: list[OpenStream] = []
    try:
        for client, count in zip(owners, per_user, strict=True):
            assert client.get("/api/me").status_code == 200  # the token's last use is written now…
            for i in range(count):  # …so each stream below is opened within that minute
                streams.append(OpenStream(client, "/api/runs/events" if i % 2 else f"/api/runs/{run_id}/events"))
        assert [s.status_code for s in streams] == [200] * sum(per_user)
        for stream in streams:
            stream.until("retry:")  # every stream has started
        other = served.client(user_token("stream-bystander"))
        assert [other.get("/api/runs").status_code for _ in range(20)] == [200] * 20
        assert other.get("/api/health").json()["database"] == "ok"
        claim(served, run_id)  # and the streams are live: the run page's see it running
        for stream in streams[::2]:
            stream.until('"status":"running"')
    finally:
        close_all(streams)


def test_the_per_user_cap_is_reached_before_any_pool_is(served) -> None:
    alice = served.client(user_token("capped-alice"))
    assert alice.get("/api/me").status_code == 200
    streams = [OpenStream(alice, "/api/runs/events") for _ in range(settings.MAX_EVENT_STREAMS_PER_USER)]
    try:
        assert {s.status_code for s in streams} == {200}
        extra = OpenStream(alice, "/api/runs/events")
        assert extra.status_code == 429
        detail = extra.response.read() and extra.response.json()["detail"][0]
        assert detail["field"] == "events" and "CNNLAB_MAX_EVENT_STREAMS_PER_USER" in detail["message"]
        extra.close()
        assert alice.get("/api/runs").status_code == 200
    finally:
        close_all(streams)


def test_the_process_total_of_streams_is_bounded(served, monkeypatch) -> None:
    monkeypatch.setattr(settings, "MAX_EVENT_STREAMS", 3)
    users = [served.client(user_token(f"total-{i}")) for i in range(4)]
    streams = [OpenStream(c, "/api/runs/events") for c in users[:3]]
    try:
        assert [s.status_code for s in streams] == [200] * 3
        fourth = OpenStream(users[3], "/api/runs/events")
        assert fourth.status_code == 429
        fourth.response.read()
        assert "CNNLAB_MAX_EVENT_STREAMS)" in fourth.response.json()["detail"][0]["message"]
        fourth.close()
    finally:
        close_all(streams)


def test_one_snapshot_per_change_serves_every_stream_of_a_run(served) -> None:
    alice = served.client(user_token("fan-out"))
    run_id = queued_run(alice, epochs=3)
    lease = claim(served, run_id)
    streams = [OpenStream(alice, f"/api/runs/{run_id}/events") for _ in range(8)]
    try:
        for stream in streams:
            stream.until("event: status")
        snapshots = served.app.state.snapshots
        before = snapshots.builds
        r = worker_call(served, f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [metric(1)]},
                        headers={"X-Run-Lease": lease})
        assert r.status_code == 204, r.text
        for stream in streams:
            stream.until("event: metric")
        assert snapshots.builds - before == 1  # eight streams, one change: one read of the database
    finally:
        close_all(streams)


def test_a_change_made_in_another_thread_wakes_a_waiting_stream() -> None:
    """The board is bumped from request threads and woken on the loop, with no polling."""
    board = events.Board()

    async def scenario() -> tuple[bool, bool]:
        board.bind(asyncio.get_running_loop())
        async with board.watch([events.run_topic(7)]) as watch:
            seen = watch.versions()
            threading.Thread(target=board.bump, args=([events.run_topic(8)],)).start()
            other_topic = await watch.wait(0.5)  # another run's change does not wake it
            threading.Thread(target=board.bump, args=([events.run_topic(7)],)).start()
            woken = await watch.wait(30)
            assert watch.versions() != seen
            return other_topic, woken

    assert asyncio.run(scenario()) == (False, True)
    assert board.watching() == 0  # the watch is gone with its stream


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_notice_crosses_the_notifier(kind) -> None:
    """One process's notice reaches another's board through the lab's notifier (here the same
    process listens to its own, which a real backend ignores)."""
    if kind == "redis":
        require_redis()
        notices = notifier.RedisNotifier("redis://127.0.0.1:6379/0", "cnnlab:test-notifier:events")
    else:
        require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
        notices = notifier.PostgresNotifier(PG_ADMIN_URL)
    board = events.Board()

    async def scenario() -> tuple[int, ...]:
        board.bind(asyncio.get_running_loop())
        listening = asyncio.create_task(notices.listen(board, own=True))
        async with board.watch([events.run_topic(42)]) as watch:
            while not notices.connected or notices.received == 0:
                watch.versions()
                await asyncio.to_thread(notices.publish, [events.run_topic(42), events.RUNS])
                await watch.wait(1.0)
            listening.cancel()
            return board.versions([events.run_topic(42)])

    epoch, version = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert version >= 1 and notices.received >= 1
    assert notifier._topics_of(notifier._payload(["run:1"])) is None  # a backend ignores its own notices
    assert notifier._topics_of('{"p": "elsewhere", "t": ["run:1"]}') == ["run:1"]


def test_the_notifier_is_chosen_by_the_lab_parts() -> None:
    assert notifier.kind_for("redis://h:6379/0", "postgresql+psycopg://h/db") == "redis"
    assert notifier.kind_for("sqla+sqlite:///b.db", "postgresql+psycopg://h/db") == "postgres"
    assert notifier.kind_for("sqla+sqlite:///b.db", "sqlite:///a.db") == "local"
    assert notifier.kind_for("redis://h:6379/0", "postgresql+psycopg://h/db", "postgres") == "postgres"
    with pytest.raises(ValueError, match="CNNLAB_NOTIFIER"):
        notifier.kind_for("", "", "carrier-pigeon")


def _model_blob() -> bytes:
    from worker import export as onnx_export
    from worker.model import build_model

    data = make_arrays(classes=3, train_per_class=4, test_per_class=4)
    config = TrainConfig.model_validate(tiny_config(architecture=ARCH, epochs=1))
    model = build_model(config.architecture)
    mean, std = onnx_export.normalisation(data)
    blob, _ = onnx_export.export(model, data, onnx_export.metadata(config, data, mean, std, 1, 0.0))
    return blob


def model_run(served, client: httpx.Client) -> int:
    """A succeeded run of ``client``'s with an exported model."""
    run_id = queued_run(client, architecture=ARCH, epochs=1)
    lease = claim(served, run_id)
    lease_headers = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-Run-Lease": lease}
    with httpx.Client(base_url=served.url, timeout=60, headers=lease_headers) as w:
        assert w.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [metric(1)]}) \
            .status_code == 204
        assert w.put(f"/api/worker/runs/{run_id}/model?epoch=1", content=_model_blob(),
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
        assert w.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "succeeded"}) \
            .status_code == 204
    return run_id


def held_decoding(monkeypatch) -> tuple[threading.Semaphore, threading.Event]:
    """Every classify request stops at its first image until the gate opens: (started, gate)."""
    started, gate = threading.Semaphore(0), threading.Event()
    original = prediction.prepare

    def held(data: bytes, size: int, index: int, filename: str) -> np.ndarray:
        if index == 0:
            started.release()
            gate.wait(120)
        return original(data, size, index, filename)

    monkeypatch.setattr(prediction, "prepare", held)
    return started, gate


def test_health_answers_while_the_heaviest_classify_request_is_in_flight(served, monkeypatch) -> None:
    """An ordering, not a clock: the classify request is held inside its first image's decoding
    until /api/health has answered (and a third request of the same user is refused meanwhile).
    With decoding on the event loop, health could not answer at all."""
    alice = served.client(user_token("predictor"), timeout=300)
    run_id = model_run(served, alice)
    side = int(settings.PREDICT_MAX_PIXELS ** 0.5)  # the largest square image the lab decodes
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(buffer, "PNG")
    files = [("files", (f"{i}.png", buffer.getvalue(), "image/png")) for i in range(settings.PREDICT_MAX_FILES)]

    started, gate = held_decoding(monkeypatch)
    answers: list[httpx.Response] = []

    def classify() -> None:
        answers.append(alice.post(f"/api/runs/{run_id}/predict?k=2", files=files))

    threads = [threading.Thread(target=classify) for _ in range(settings.PREDICT_MAX_PER_USER)]
    try:
        for thread in threads:
            thread.start()
            assert started.acquire(timeout=120)  # the request is inside its decoding now
        health = httpx.get(f"{served.url}/api/health", timeout=30)
        assert health.status_code == 200 and answers == []  # answered while both are in flight
        third = alice.post(f"/api/runs/{run_id}/predict", files=files[:1])
        assert third.status_code == 429 and "CNNLAB_PREDICT_MAX_PER_USER" in third.json()["detail"][0]["message"]
    finally:
        gate.set()
        for thread in threads:
            thread.join(300)
    assert [a.status_code for a in answers] == [200] * len(threads)
    assert len(answers[0].json()["data"]) == settings.PREDICT_MAX_FILES


def test_classify_requests_waiting_for_their_pool_hold_no_connection(served, monkeypatch) -> None:
    """Sixteen members' requests in flight (two decoding, fourteen queued for the pool) while the
    pool of 15 connections serves everyone else: the member rule of a classify request is checked
    with a session of its own, closed before the request waits."""
    from backend.core.limits import classifications

    owner = served.client(user_token("model-owner"))
    run_id = model_run(served, owner)
    started, gate = held_decoding(monkeypatch)
    image = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image, "PNG")
    members = [served.client(user_token(f"classifier-{i}"), timeout=120) for i in range(16)]
    answers: list[int] = []
    threads = [threading.Thread(target=lambda c=c: answers.append(c.post(
        f"/api/runs/{run_id}/predict", files=[("files", ("a.png", image.getvalue(), "image/png"))]).status_code))
        for c in members]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while classifications.total() < len(members) and time.monotonic() < deadline and not answers:
            time.sleep(0.05)
        assert classifications.total() == len(members), answers  # all sixteen are in flight
        bystander = served.client(user_token("classify-bystander"))
        assert [bystander.get("/api/runs").status_code for _ in range(20)] == [200] * 20
    finally:
        gate.set()
        for thread in threads:
            thread.join(120)
    assert answers == [200] * len(members)


def test_an_upload_streaming_slowly_holds_no_connection(served) -> None:
    """Sixteen checkpoint uploads with an admin-issued worker token (checked in the database), each
    stopped half-way through its body, while the pool of 15 serves everyone else."""
    from backend.core.db import SessionLocal
    from backend.identity import service as users

    with SessionLocal() as session:
        token = users.issue_token(session, None, "slow uploads", kind="worker").secret
        session.commit()
    owner = served.client(user_token("upload-owner"))
    runs = [queued_run(owner, epochs=3) for _ in range(16)]
    leases = [claim(served, run_id) for run_id in runs]
    gate, answers = threading.Event(), []

    def upload(run_id: int, lease: str) -> None:
        def body():
            yield b"x" * 1024
            gate.wait(120)
            yield b"y" * 1024

        with httpx.Client(base_url=served.url, timeout=120,
                          headers={"Authorization": f"Bearer {token}", "X-Run-Lease": lease}) as w:
            answers.append(w.put(f"/api/worker/runs/{run_id}/checkpoints/last?attempt=1&epoch=1", content=body(),
                                 headers={"Content-Type": "application/octet-stream"}).status_code)

    threads = [threading.Thread(target=upload, args=pair) for pair in zip(runs, leases, strict=True)]
    try:
        for thread in threads:
            thread.start()
        def receiving() -> int:  # uploads whose body is being written to its temporary file
            return sum(1 for run_id in runs for _ in (settings.CHECKPOINT_DIR / f"run_{run_id}").glob(".last.*.upload"))

        deadline = time.monotonic() + 60
        while receiving() < len(runs) and time.monotonic() < deadline and not answers:
            time.sleep(0.05)
        assert receiving() == len(runs), answers
        bystander = served.client(user_token("upload-bystander"))
        assert [bystander.get("/api/runs").status_code for _ in range(20)] == [200] * 20
        assert answers == []  # the uploads were still under way
    finally:
        gate.set()
        for thread in threads:
            thread.join(120)
    assert answers == [204] * len(runs)


def test_several_processes_without_a_notifier_are_refused_at_startup(monkeypatch) -> None:
    from backend.core.errors import StartupRefused

    monkeypatch.setattr(settings, "BACKEND_PROCESSES", 2)
    monkeypatch.setattr(settings, "NOTIFIER", "")
    monkeypatch.setattr(settings, "BROKER_URL", "sqla+sqlite:///b.db")
    monkeypatch.setattr(settings, "DATABASE_URL", "sqlite:///a.db")
    with pytest.raises(StartupRefused, match="CNNLAB_BACKEND_PROCESSES=2 needs"):
        notifier.check_processes()
    monkeypatch.setattr(settings, "BROKER_URL", "redis://127.0.0.1:6379/0")
    notifier.check_processes()  # Redis carries them
