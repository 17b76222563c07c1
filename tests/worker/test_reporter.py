"""The worker's reporter with a fake backend: order, retries, cancel, and no heartbeat when stalled."""

from __future__ import annotations

import time

import pytest

from backend.core.settings import settings
from worker.client import Superseded
from worker.reporter import SUPERSEDED, Reporter
from worker.trainer import EpochMetrics


class FakeBackend:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.cancel = False
        self.superseded = False

    def report_epochs(self, run_id, attempt, lease, metrics):
        assert lease == "the-lease"
        if self.superseded:
            raise Superseded("409")
        self.calls.append(("epochs", metrics[0]["epoch"]))

    def heartbeat(self, run_id, attempt, lease, progress=None):
        assert lease == "the-lease"
        self.calls.append(("heartbeat",))
        return {"status": "running", "cancel_requested": self.cancel, "current": True}

    def finish(self, run_id, attempt, lease, status, reason, elapsed_s):
        assert lease == "the-lease"
        self.calls.append(("finish", status))


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(settings, "HEARTBEAT_INTERVAL_S", 0.02)


def metric(epoch: int) -> EpochMetrics:
    return EpochMetrics(epoch, 1.0, 0.5, 1.0, 0.5, 0.1, 1.0)


def test_epochs_then_finish_in_order(fast) -> None:
    backend = FakeBackend()
    reporter = Reporter(backend, 1, 1, "the-lease").start()
    for e in (1, 2, 3):
        reporter.epoch(metric(e))
    reporter.finish("succeeded", "done", 3.0)
    sent = [c for c in backend.calls if c[0] != "heartbeat"]
    assert sent == [("epochs", 1), ("epochs", 2), ("epochs", 3), ("finish", "succeeded")]


def test_cancel_arrives_through_the_heartbeat(fast) -> None:
    backend = FakeBackend()
    reporter = Reporter(backend, 1, 1, "the-lease").start()
    backend.cancel = True
    deadline = time.monotonic() + 5
    while reporter.should_stop() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reporter.should_stop() == "cancelled"
    reporter.close()


def test_a_superseded_attempt_stops(fast) -> None:
    backend = FakeBackend()
    backend.superseded = True
    reporter = Reporter(backend, 1, 1, "the-lease").start()
    reporter.epoch(metric(1))
    reporter.finish("succeeded", None, 1.0)
    assert reporter.should_stop() == SUPERSEDED
    assert ("finish", "succeeded") not in backend.calls  # another attempt owns the run


def test_no_heartbeat_while_the_trainer_is_stalled(fast, monkeypatch) -> None:
    monkeypatch.setattr(settings, "STALL_TIMEOUT_S", 0.1)
    backend = FakeBackend()
    reporter = Reporter(backend, 1, 1, "the-lease").start()
    time.sleep(0.3)  # should_stop is never called: the loop is hung
    before = backend.calls.count(("heartbeat",))
    time.sleep(0.3)
    assert backend.calls.count(("heartbeat",)) == before
    reporter.should_stop()  # progress again: heartbeats resume
    time.sleep(0.05)
    reporter.close()
    assert backend.calls.count(("heartbeat",)) > before
