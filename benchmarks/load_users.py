"""The lab's users, for Locust (run by benchmarks/load.py, never imported by the backend or tests).

- ``GpuWorker``: claims a run, heartbeats every 5 s with its progress, reports an epoch every 10 s,
  uploads its last checkpoint every 30 s, finishes at the run's last epoch and claims a new one;
  every epoch the backend acknowledged (204) is tallied, to be compared with what was stored;
- ``DashboardTab``: an open event stream (a run's page or the runs list) held for 30–90 s, then
  opened again, as a browser tab does;
- ``Member``: the runs list, run pages (HTML and API), metrics, compare;
- ``Classifier``: classify requests of 8 images against a run's exported model.

Each task is one request (or one held stream), so Locust's stop lets every request in flight end
(--stop-timeout) and the tallies are exact.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import time
from pathlib import Path

from locust import HttpUser, between, constant, events, task

PLAN = json.loads(Path(os.environ["CNNLAB_LOAD_PLAN"]).read_text())
SCALE: float = PLAN["scale"]
EPOCHS: int = PLAN["epochs"]
WORKER = {"Authorization": f"Bearer {PLAN['worker_token']}"}
acknowledged: dict[int, list[int]] = {}  # run id → epochs the backend answered 204 to
unsure: list[tuple[int, int]] = []  # (run, epoch) reports that failed: stored or not, nobody knows
stream_events = [0]
active_runs: list[int] = []
_serials: dict[str, itertools.count[int]] = {}


def serial(kind: str) -> int:
    """0, 1, 2… for each kind of user: user n of a kind takes token n modulo that kind's tokens."""
    return next(_serials.setdefault(kind, itertools.count()))


def scaled(n: int) -> int:
    return max(1, round(n * SCALE))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class GpuWorker(HttpUser):
    fixed_count = scaled(100)
    wait_time = constant(5)

    def on_start(self) -> None:
        self.serial = serial("worker")
        self.submitter = bearer(PLAN["submitters"][self.serial % len(PLAN["submitters"])])
        self.run_id = 0
        self.new_run()

    def new_run(self) -> None:
        r = self.client.post("/api/runs", json={"name": f"load {self.serial}", "config": PLAN["config"]},
                             headers=self.submitter, name="POST /api/runs")
        if r.status_code != 201:
            self.run_id = 0
            return
        run_id = r.json()["id"]
        r = self.client.post(f"/api/worker/runs/{run_id}/claim", json={"host": f"load-{self.serial}",
                             "device": "cuda:0"}, headers=WORKER, name="POST /api/worker/runs/[id]/claim")
        if r.status_code != 200:
            self.run_id = 0
            return
        body = r.json()
        self.run_id, self.attempt, self.epoch, self.ticks = run_id, body["attempt"], 0, 0
        self.headers = {**WORKER, "X-Run-Lease": body["lease"]}
        acknowledged[run_id] = []
        active_runs.append(run_id)

    @task
    def tick(self) -> None:
        """Every 5 s: a heartbeat; every 10 s an epoch instead; every 30 s a checkpoint too."""
        if not self.run_id:
            self.new_run()
            return
        self.ticks += 1
        if self.ticks % 2:
            batch = random.randint(0, 195)
            self.client.post(f"/api/worker/runs/{self.run_id}/heartbeat", headers=self.headers,
                             json={"attempt": self.attempt, "progress": {"epoch": self.epoch + 1, "batch": batch,
                                                                         "batches": 196, "images_per_s": 9000.0}},
                             name="POST /api/worker/runs/[id]/heartbeat")
            return
        epoch = self.epoch + 1
        metric = {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": min(0.99, 0.3 + epoch / 100),
                  "test_loss": 1.2 / epoch, "test_acc": min(0.95, 0.3 + epoch / 110), "lr": 0.05, "seconds": 10.0,
                  "val_loss": 1.1 / epoch, "val_acc": min(0.95, 0.31 + epoch / 110)}  # runs hold out 5,000 images
        r = self.client.post(f"/api/worker/runs/{self.run_id}/epochs", headers=self.headers,
                             json={"attempt": self.attempt, "metrics": [metric]},
                             name="POST /api/worker/runs/[id]/epochs")
        if r.status_code == 204:
            acknowledged[self.run_id].append(epoch)
            self.epoch = epoch
        else:
            unsure.append((self.run_id, epoch))
            return
        if epoch % 3 == 0:
            self.client.put(f"/api/worker/runs/{self.run_id}/checkpoints/last?attempt={self.attempt}&epoch={epoch}",
                            data=os.urandom(48_000), name="PUT /api/worker/runs/[id]/checkpoints/last",
                            headers={**self.headers, "Content-Type": "application/octet-stream"})
        if epoch >= EPOCHS:
            self.client.post(f"/api/worker/runs/{self.run_id}/finish", headers=self.headers,
                             json={"attempt": self.attempt, "status": "succeeded"},
                             name="POST /api/worker/runs/[id]/finish")
            if self.run_id in active_runs:
                active_runs.remove(self.run_id)
            self.run_id = 0


class DashboardTab(HttpUser):
    fixed_count = scaled(300)
    wait_time = constant(1)

    def on_start(self) -> None:
        self.auth = bearer(PLAN["watchers"][serial("watcher") % len(PLAN["watchers"])])

    @task
    def follow(self) -> None:
        if active_runs and random.random() < 2 / 3:
            path, name = f"/api/runs/{random.choice(active_runs)}/events", "GET /api/runs/[id]/events"
        else:
            path, name = "/api/runs/events", "GET /api/runs/events"
        held_for = random.uniform(30, 90) * min(1.0, PLAN["duration_s"] / 600)
        with self.client.get(path, headers=self.auth, stream=True, name=name, catch_response=True,
                             timeout=(10, 30)) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            deadline = time.monotonic() + held_for
            for line in r.iter_lines():
                if line.startswith(b"event:"):
                    stream_events[0] += 1
                if time.monotonic() > deadline or self.environment.runner.state in ("stopping", "stopped"):
                    break  # a keep-alive comment comes every 15 s at least, so this is looked at
            r.success()


class Member(HttpUser):
    fixed_count = scaled(20)
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.auth = bearer(PLAN["members"][serial("member") % len(PLAN["members"])])

    def some_runs(self, n: int) -> list[int]:
        return random.sample(active_runs, min(n, len(active_runs))) if active_runs else [PLAN["model_run"]]

    @task(3)
    def runs_list(self) -> None:
        self.client.get("/api/runs?limit=50", headers=self.auth, name="GET /api/runs")

    @task(2)
    def run_page(self) -> None:
        run_id = self.some_runs(1)[0]
        self.client.get(f"/runs/{run_id}", headers=self.auth, name="GET /runs/[id] (page)")
        self.client.get(f"/api/runs/{run_id}", headers=self.auth, name="GET /api/runs/[id]")
        self.client.get(f"/api/runs/{run_id}/metrics", headers=self.auth, name="GET /api/runs/[id]/metrics")

    @task(1)
    def compare(self) -> None:
        ids = ",".join(map(str, self.some_runs(5)))
        self.client.get(f"/api/compare?ids={ids}", headers=self.auth, name="GET /api/compare")


class Classifier(HttpUser):
    fixed_count = scaled(5)
    wait_time = between(1, 2)

    def on_start(self) -> None:
        from PIL import Image

        number = serial("classifier")
        self.auth = bearer(PLAN["classifiers"][number % len(PLAN["classifiers"])])
        rng = random.Random(number)
        self.files = []
        for i in range(8):
            buffer = io.BytesIO()
            Image.frombytes("RGB", (32, 32), bytes(rng.getrandbits(8) for _ in range(32 * 32 * 3))).save(buffer, "PNG")
            self.files.append(("files", (f"{i}.png", buffer.getvalue(), "image/png")))

    @task
    def classify(self) -> None:
        self.client.post(f"/api/runs/{PLAN['model_run']}/predict?k=3", files=self.files, headers=self.auth,
                         name="POST /api/runs/[id]/predict")


@events.test_stop.add_listener
def _write_tally(**_kwargs: object) -> None:
    Path(PLAN["tally"]).write_text(json.dumps({"acknowledged": acknowledged, "unsure": unsure,
                                               "stream_events": stream_events[0]}))
