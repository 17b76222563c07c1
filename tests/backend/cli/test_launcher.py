"""`./cnnlab start`'s launcher as a real process: kill -9 of its worker leaves the dashboard up,
a new worker comes up, and the interrupted run ends with each epoch recorded once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.utils.factories import tiny_config
from tests.utils.services import ROOT, free_port, wait_for

pytestmark = pytest.mark.integration


def test_the_launcher_restarts_a_killed_worker_and_the_run_resumes(tmp_path, dataset) -> None:
    port = free_port()
    env = {**os.environ, "CNNLAB_VAR_DIR": str(tmp_path / "var"), "CNNLAB_PORT": str(port),
           "CNNLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'lab.db'}",
           "CNNLAB_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'var' / 'broker.db'}", "CNNLAB_QUEUE": "launcher-test",
           "CNNLAB_BACKEND_URL": f"http://127.0.0.1:{port}", "CNNLAB_CIFAR10": str(dataset), "CNNLAB_AUTH": "",
           "CNNLAB_HEARTBEAT_INTERVAL_S": "0.5", "CNNLAB_HEARTBEAT_TIMEOUT_S": "4", "CNNLAB_REAPER_INTERVAL_S": "0.5",
           "CNNLAB_REQUEUE_GRACE_S": "2", "CNNLAB_REPORT_RETRY_MAX_S": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("CNNLAB_WORKER_TOKEN")  # the launcher makes and hands over its own
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        launcher = subprocess.Popen([sys.executable, "-m", "backend.cli.launch", "--no-browser"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)  # local mode: no sign-in on loopback
    try:
        wait_for(lambda: "cnnlab is up" in log.read_text(), 90, "the launcher's 'cnnlab is up'")
        run = http.post("/api/runs", json={"name": "survivor", "config": tiny_config(epochs=8, batch_size=4)}).json()
        wait_for(lambda: http.get(f"/api/runs/{run['id']}").json()["epochs_done"] >= 2, 120, "two epochs")
        first = int(re.findall(r"worker started \(pid (\d+)\)", log.read_text())[0])
        os.kill(first, signal.SIGKILL)
        answered, deadline = [], time.monotonic() + 15
        while time.monotonic() < deadline:  # the dashboard answers throughout
            answered.append(http.get("/api/health").status_code)
            time.sleep(0.25)
        assert set(answered) == {200}
        text = log.read_text()
        assert f"the worker (pid {first}) died (signal 9)" in text
        pids = [int(p) for p in re.findall(r"worker started \(pid (\d+)\)", text)]
        assert len(pids) == 2 and pids[1] != first
        final = wait_for(lambda: (lambda r: r if r["status"] in ("succeeded", "failed") else None)(
            http.get(f"/api/runs/{run['id']}").json()), 180, "the run to end")
        assert final["status"] == "succeeded" and final["attempt"] == 2, final
        epochs = [m["epoch"] for m in http.get(f"/api/runs/{run['id']}/metrics").json()["data"]]
        assert epochs == list(range(1, 9))  # every epoch once, none lost, none twice
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C stops everything
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
        http.close()
    assert launcher.returncode == 0, log.read_text()[-3000:]
