"""The queue's places and ETAs (backend.runs.queue_eta) as pure functions: a table of cases, then
the rule for the expected seconds per epoch, then the places read from a database (SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.runs.queue_eta import Load, Measured, Place, epoch_seconds, estimate, measure, training_images

NO_HISTORY = Measured({}, None)


def q(run_id: int, epochs: float, budget: float, epoch_s: float | None) -> Load:
    return Load(run_id, epochs, budget, epoch_s)


CASES = [
    pytest.param(  # epochs bind: 10 × 6 s = 60 s, under the budget
        [q(2, 10, 3600, 6.0)], [q(1, 5, 3600, 10.0)], 1,
        {2: (1, 0, 50.0, 110.0)}, id="epochs-binding"),
    pytest.param(  # the budget binds: 100 × 60 s would be 6000 s, the budget says 600
        [q(2, 100, 600, 60.0), q(3, 1, 600, 1.0)], [q(1, 100, 300, 60.0)], 1,
        {2: (1, 0, 300.0, 900.0), 3: (2, 1, 900.0, 901.0)}, id="budget-binding"),
    pytest.param(  # two workers: the second queued run takes the worker that frees first
        [q(3, 10, 3600, 10.0), q(4, 10, 3600, 10.0), q(5, 1, 3600, 10.0)], [q(1, 2, 3600, 10.0), q(2, 5, 3600, 10.0)],
        2, {3: (1, 0, 20.0, 120.0), 4: (2, 1, 50.0, 150.0), 5: (3, 2, 120.0, 130.0)}, id="two-workers-busy"),
    pytest.param(  # three workers up, one busy: two queued runs start at once, the third after the shortest
        [q(2, 3, 3600, 10.0), q(3, 6, 3600, 10.0), q(4, 1, 3600, 10.0)], [q(1, 10, 3600, 10.0)], 3,
        {2: (1, 0, 0.0, 30.0), 3: (2, 1, 0.0, 60.0), 4: (3, 2, 30.0, 40.0)}, id="idle-workers"),
    pytest.param(  # no history: every run is expected to use its whole time budget
        [q(2, 50, 900, None), q(3, 50, 1200, None)], [q(1, 50, 600, None)], 1,
        {2: (1, 0, 600.0, 1500.0), 3: (2, 1, 1500.0, 2700.0)}, id="no-history"),
    pytest.param(  # a running run past its budget (finishing) holds its worker for no more time
        [q(2, 4, 3600, 5.0)], [q(1, 3, -10, 5.0)], 1,
        {2: (1, 0, 0.0, 20.0)}, id="budget-spent"),
    pytest.param(  # no worker up and nothing running: a place, no ETA
        [q(1, 4, 3600, 5.0), q(2, 4, 3600, 5.0)], [], 0,
        {1: (1, 0, None, None), 2: (2, 1, None, None)}, id="no-worker-up"),
    pytest.param(  # a run trains although no worker is said up (presence late): it still holds a worker
        [q(2, 4, 3600, 5.0)], [q(1, 2, 3600, 5.0)], 0,
        {2: (1, 0, 10.0, 30.0)}, id="running-without-presence"),
]


@pytest.mark.parametrize(("queued", "running", "up", "expected"), CASES)
def test_places_and_etas(queued, running, up, expected) -> None:
    places = estimate(queued, running, up)
    assert {k: (p.position, p.ahead, p.eta_start_s, p.eta_finish_s) for k, p in places.items()} == expected
    assert all(p.workers_up == up for p in places.values())


def test_an_empty_queue_has_no_places() -> None:
    assert estimate([], [q(1, 3, 60, 1.0)], 2) == {}


def test_duration_is_the_smaller_of_budget_and_epochs() -> None:
    assert q(1, 10, 3600, 6.0).duration_s == 60.0
    assert q(1, 10, 30, 6.0).duration_s == 30.0
    assert q(1, 10, 30, None).duration_s == 30.0
    assert q(1, -1, 30, 6.0).duration_s == 0.0


KEY = ("compact", 1_000_000, 32, 50_000)


def test_seconds_per_epoch_own_then_same_network_then_lab_wide_then_none() -> None:
    measured = measure([(KEY, 4, 40.0), (KEY, 6, 80.0), (("wide", 2_000_000, 64, 50_000), 2, 40.0)])
    assert measured.by_key[KEY] == pytest.approx(12.0)  # 120 s over 10 epochs
    # lab-wide: 160 s over (10 × 1e6 + 2 × 2e6) × 50,000 MAC·images
    assert measured.per_mac_image_s == pytest.approx(160.0 / (14e6 * 50_000))
    assert epoch_seconds(7.5, KEY, KEY[1], KEY[3], measured) == 7.5  # its own, measured
    assert epoch_seconds(None, KEY, KEY[1], KEY[3], measured) == pytest.approx(12.0)  # same network and batch
    other = ("compact", 1_000_000, 128, 50_000)  # another batch size: scaled from the lab-wide rate
    assert epoch_seconds(None, other, 3_000_000, 10_000, measured) == pytest.approx(
        160.0 / (14e6 * 50_000) * 3_000_000 * 10_000)
    assert epoch_seconds(None, other, 3_000_000, None, measured) is None  # training images unknown
    assert epoch_seconds(None, KEY, KEY[1], KEY[3], NO_HISTORY) is None


def test_runs_without_an_epoch_measure_nothing() -> None:
    assert measure([(KEY, 0, 0.0), (KEY, 3, 0.0)]) == NO_HISTORY


@pytest.mark.parametrize(("config", "images"), [
    ({"data": {"source": "cifar10"}}, 50_000),
    ({"data": {"source": "cifar10", "holdout": 5_000}}, 45_000),
    ({"data": {"source": "cifar10", "train_limit": 2_000}}, 2_000),
    ({"data": {"source": "mnistish/train"}}, None),
    ({"data": {"source": "mnistish/train", "train_limit": 300}}, 300),
    ({}, 50_000),
])
def test_training_images_of_a_config(config, images) -> None:
    assert training_images(config) == images


def test_place_is_a_plain_value() -> None:
    assert Place(1, 0, 0.0, 1.0, 1) == Place(1, 0, 0.0, 1.0, 1)


# --- read from a database: the queue's order and what it is measured from ----------------------

@pytest.fixture
def db():
    from backend.cli.migrate import upgrade
    from backend.core.db import SessionLocal
    from backend.core.statuses import ACTIVE_STATUSES, RunStatus
    from backend.core.tables import Run, WorkerPresence
    from tests.utils.auth import user_token

    upgrade()
    user_token("queue-eta")
    with SessionLocal() as session:
        session.query(Run).filter(Run.status.in_(ACTIVE_STATUSES)).update({"status": RunStatus.CANCELLED})
        session.query(WorkerPresence).delete()
        session.commit()
        yield session
        session.rollback()
        session.query(Run).filter(Run.status.in_(ACTIVE_STATUSES)).update({"status": RunStatus.CANCELLED})
        session.query(WorkerPresence).delete()
        session.commit()


def test_queue_places_follow_the_queue_order_and_the_measured_epochs(db) -> None:
    from backend.core.statuses import RunStatus
    from backend.core.tables import Run, User, WorkerPresence, utcnow
    from backend.runs.queue_eta import queue_places
    from tests.utils.factories import tiny_config

    owner = db.query(User).filter_by(username="queue-eta").one()
    now = utcnow()
    config = tiny_config(epochs=10, batch_size=16, time_budget_s=3600)

    def add(status: str, enqueued_s: float, **extra) -> Run:
        run = Run(name="q", owner=owner, status=status, config=config, architecture="probe-net", params=1,
                  macs=1234, seed=0, epochs=10, enqueued_at=now + timedelta(seconds=enqueued_s), **extra)
        db.add(run)
        db.flush()
        return run

    running = add(RunStatus.RUNNING, -100, epochs_done=4, train_seconds=40.0)  # 10 s per epoch, 6 left
    later = add(RunStatus.QUEUED, 20)
    first = add(RunStatus.QUEUED, 10)  # made after, enqueued before: it goes first
    requeued = add(RunStatus.QUEUED, 30, epochs_done=8, train_seconds=80.0)  # resumes: 2 epochs left
    db.add(WorkerPresence(name="w1@test", host="test", device="cpu", started_at=now, last_seen_at=now,
                          run_id=running.id, run_since=now))
    db.add(WorkerPresence(name="w0@test", host="test", device="cpu", started_at=now, last_seen_at=now - timedelta(
        hours=1)))  # down: not counted
    db.commit()
    places = queue_places(db)
    assert [places[r.id].position for r in (first, later, requeued)] == [1, 2, 3]
    assert places[first.id].model_dump() == {"position": 1, "ahead": 0, "eta_start_s": 60.0,
                                             "eta_finish_s": 160.0, "workers_up": 1}
    assert (places[later.id].eta_start_s, places[later.id].eta_finish_s) == (160.0, 260.0)
    assert (places[requeued.id].eta_start_s, places[requeued.id].eta_finish_s) == (260.0, 280.0)
