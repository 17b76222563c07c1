"""A queue you can see, in Debian's Chromium: a worker (played through the API with the lab's worker
credential: it says it is up, claims a long run and heartbeats) is busy, two runs wait behind it.
The runs list and the waiting run's page show its place and ETA, the run page moves it up when the
run ahead is cancelled, and the Workers page lists the worker, what it trains, and the queue."""

from __future__ import annotations

import os
import re
import threading

import httpx
import pytest

from tests.utils.factories import metric, tiny_config
from tests.utils.services import wait_for

pytestmark = pytest.mark.integration

WORKER_TOKEN = os.environ["CNNLAB_WORKER_TOKEN"]  # tests/conftest.py; the lab's processes inherit it
NAME = "browser-slot@queue-host"


class BusyWorker:
    """Says it is up, claims ``run_id`` under its name, records one 30-second epoch, and then says it is
    up and heartbeats every 0.5 s until stopped (so the reaper leaves its run be)."""

    def __init__(self, lab, run_id: int) -> None:
        self.http = httpx.Client(base_url=lab.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
        self.up()
        base = f"/api/worker/runs/{run_id}"
        r = self.http.post(f"{base}/claim", json={"host": "queue-host", "device": "cpu", "worker": NAME})
        assert r.status_code == 200, r.text
        attempt, lease = r.json()["attempt"], r.json()["lease"]
        r = self.http.post(f"{base}/epochs", headers={"X-Run-Lease": lease},
                           json={"attempt": attempt, "metrics": [{**metric(1), "seconds": 30.0}]})
        assert r.status_code == 204, r.text
        self.done = threading.Event()

        def beat() -> None:
            while not self.done.wait(0.5):
                try:
                    self.up()
                    self.http.post(f"{base}/heartbeat", headers={"X-Run-Lease": lease}, json={"attempt": attempt})
                except httpx.HTTPError:
                    pass

        self.thread = threading.Thread(target=beat, daemon=True)
        self.thread.start()

    def up(self) -> None:
        r = self.http.post("/api/worker/presence", json={"name": NAME, "host": "queue-host", "device": "cpu"})
        assert r.status_code == 204, r.text

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        self.http.close()


def cancel_active(lab) -> None:
    for run in lab.http.get("/api/runs?status=queued,running&limit=500").json()["data"]:
        lab.http.post(f"/api/runs/{run['id']}/cancel")


def test_a_queued_runs_place_on_the_list_its_page_and_the_workers_page(page, lab) -> None:
    cancel_active(lab)  # the lab is the session's: the queue is this test's
    wait_for(lambda: not lab.http.get("/api/runs?status=queued").json()["data"], 30, "an empty queue")
    long = lab.submit(tiny_config(epochs=50), name="long")
    busy = BusyWorker(lab, long["id"])
    try:
        first = lab.submit(tiny_config(epochs=5), name="waits first")
        second = lab.submit(tiny_config(epochs=5), name="waits second")

        # the runs list: the place in the status cell of each waiting run
        page.goto("/")
        cell = f"tr[data-run-id='{second['id']}'] .row-queue"
        page.wait_for_selector(cell)
        # its start: the long run's epochs left at the seconds per epoch of the session lab's recent tiny runs of
        # the same network (the BusyWorker reports none of its own) — "now" when those were quick
        starts = r"2nd in line, starts (now|in under a minute|in about \d+ min)"
        assert re.fullmatch(starts, page.inner_text(cell).strip())
        # the busy worker, and the session lab's own Celery worker when its presence beat came in
        assert re.search(r"\((1 worker|2 workers) up\)$", page.get_attribute(cell, "title"))
        assert page.inner_text(f"tr[data-run-id='{first['id']}'] .row-queue").startswith("1st in line")
        assert page.locator(f"tr[data-run-id='{long['id']}'] .row-queue").count() == 0

        # the waiting run's page: its place, moving up when the run ahead of it is cancelled
        page.goto(f"/runs/{second['id']}")
        page.wait_for_selector("#queue-place:not([hidden])")
        place = page.inner_text("#queue-place").strip()
        assert re.fullmatch(r"Queued: " + starts + r" \((1 worker|2 workers) up\)", place)
        assert lab.http.post(f"/api/runs/{first['id']}/cancel").status_code == 200
        page.wait_for_function("document.getElementById('queue-place').textContent.includes('1st in line')",
                               timeout=30_000)
        assert page.get_attribute("#run", "data-queue-position") == "1"

        # the Workers page: the worker up, training the long run since it claimed it; the queue in order
        page.goto("/workers")
        page.wait_for_selector("body[data-ready='1']")
        row = f"#workers tr[data-worker='{NAME}']"
        assert page.get_attribute(row, "data-up") == "1"
        assert page.get_attribute(row, "data-run-id") == str(long["id"])
        assert "long" in page.inner_text(row) and "epoch 2 of 50" in page.inner_text(row)
        assert "30.0 s" in page.inner_text(row)  # its measured epoch time
        queue = page.locator("#queue tbody tr")
        assert queue.count() == 1 and queue.first.get_attribute("data-run-id") == str(second["id"])
        assert queue.first.inner_text().startswith("1st")
    finally:
        busy.stop()
        cancel_active(lab)


def test_the_pages_and_the_client_say_a_place_in_the_same_words(page) -> None:
    """common.js's queueText (the run page, the runs list, the Workers page) and the client's queue_text."""
    from cnnlab_client.watch import queue_text

    places = [{"position": p, "ahead": p - 1, "eta_start_s": s, "eta_finish_s": None, "workers_up": up}
              for p, s, up in [(1, 0.0, 1), (2, 45.0, 1), (3, 730.0, 2), (4, 90.0, 1), (11, 9000.0, 3),
                               (12, 5399.0, 1), (13, 5400.0, 1), (21, 29.9, 1), (22, None, 0), (112, 150.0, 1)]]
    page.goto("/workers")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("(places) => places.map((q) => cnn.queueText(q))", places) == [queue_text(q) for q in places]
