"""The client's watch of a queued run: its place and ETA, printed when they change (instead of
`status: queued` once and nothing for minutes) — against a stub server, then a real lab whose one
worker is busy."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from cnnlab_client.watch import in_about, ordinal, queue_text, status_line
from tests.client.test_client_cli import CLIENT_ENV, cli, client_only, home, run_json, sse, stub  # noqa: F401 - its fixtures
from tests.utils.factories import tiny_config
from tests.utils.services import wait_for

pytestmark = pytest.mark.integration


def place(position: int, start: float | None, up: int = 1) -> dict:
    return {"position": position, "ahead": position - 1, "eta_start_s": start,
            "eta_finish_s": None if start is None else start + 60, "workers_up": up}


@pytest.mark.parametrize(("q", "text"), [
    (place(1, 0.0), "1st in line, starts now (1 worker up)"),
    (place(2, 45.0), "2nd in line, starts in under a minute (1 worker up)"),
    (place(3, 12 * 60 + 10, up=2), "3rd in line, starts in about 12 min (2 workers up)"),
    (place(4, 90.0), "4th in line, starts in about 2 min (1 worker up)"),  # halves round up, as JavaScript's
    (place(11, 2.5 * 3600), "11th in line, starts in about 2.5 h (1 worker up)"),
    (place(22, None, up=0), "22nd in line, waiting for a worker (0 workers up)"),
])
def test_queue_text(q, text) -> None:
    assert queue_text(q) == text


def test_ordinals_and_durations() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102, 111, 113)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd", "111th", "113th"]
    assert [in_about(s) for s in (0, 29.9, 30, 59, 60, 5399, 5400)] == [
        "now", "now", "in under a minute", "in under a minute", "in about 1 min", "in about 90 min", "in about 1.5 h"]


def test_status_line_of_a_queued_run_names_its_place_and_a_requeued_runs_reason() -> None:
    line = status_line(run_json("queued", queue=place(2, 240.0)))
    assert line == "queued: 2nd in line, starts in about 4 min (1 worker up)"
    assert status_line(run_json("queued", queue=None)) == "status: queued"  # a server without places
    requeued = run_json("queued", queue=place(1, 0.0), reason="worker w lost after epoch 3")
    assert status_line(requeued) == "queued: 1st in line, starts now (1 worker up) (worker w lost after epoch 3)"


def test_watch_prints_the_place_each_time_it_changes(stub, cli) -> None:  # noqa: F811 - test_client_cli's fixtures
    body = sse(("status", run_json("queued", queue=place(3, 600.0)), 0),
               ("status", run_json("queued", queue=place(3, 610.0)), 0),  # the same words: not printed again
               ("status", run_json("queued", queue=place(2, 300.0)), 0),
               ("status", run_json("queued", queue=place(1, 10.0)), 0),
               ("status", run_json("running"), 0),
               ("status", run_json("succeeded", reason="completed 1 epochs"), 0))
    stub.answers[("GET", "/api/runs/7/events")] = [(200, {"Content-Type": "text/event-stream"}, body)]
    proc = cli("--url", stub.url, "watch", "7", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "queued: 3rd in line, starts in about 10 min (1 worker up)",
        "queued: 2nd in line, starts in about 5 min (1 worker up)",
        "queued: 1st in line, starts now (1 worker up)",
        "status: running",
        "run 7 succeeded: no epoch recorded",
    ]


def client_env(client_only, home, **extra: str) -> dict[str, str]:  # noqa: F811 - the fixtures' values
    """The environment test_client_cli's ``cli`` runs the client in (only the client on its path)."""
    clean = {k: v for k, v in os.environ.items() if k not in CLIENT_ENV}
    return {**clean, "HOME": str(home), "PYTHONPATH": str(client_only), **extra}


def test_watch_of_a_run_waiting_behind_a_busy_worker_prints_its_place(lab, worker, client_only, home) -> None:  # noqa: F811
    for run in lab.http.get("/api/runs?status=queued,running&limit=500").json()["data"]:
        lab.http.post(f"/api/runs/{run['id']}/cancel")  # the lab is the session's: its queue is this test's
    wait_for(lambda: not lab.http.get("/api/runs?status=queued,running").json()["data"], 60, "no active run")
    running = lab.submit(tiny_config(epochs=400, batch_size=4), name="long")
    lab.wait_epochs(running["id"], 1)
    first = lab.submit(tiny_config(epochs=3), name="waits first")
    second = lab.submit(tiny_config(epochs=3), name="waits second")
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab_client", "--url", lab.url, "watch", str(second["id"])],
                            cwd=client_only, env=client_env(client_only, home, CNNLAB_TOKEN=lab.token),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    def read() -> None:
        for out in iter(proc.stdout.readline, ""):
            lines.append(out.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("queued: ") for line in lines) or proc.poll() is not None, 60,
                 "the watch's place line")
        assert proc.poll() is None, (lines, proc.stderr.read())
        line = next(line for line in lines if line.startswith("queued: "))
        assert line.startswith("queued: 2nd in line, starts "), lines
        assert line.rstrip().endswith(("1 worker up)", "workers up)")), lines
        assert "status: queued" not in "".join(lines)
        # the long run is cancelled: the first waiting one starts, the watched one moves up (printed as it changes)
        assert lab.http.post(f"/api/runs/{running['id']}/cancel").status_code == 200
        wait_for(lambda: any(s.startswith(("queued: 1st in line", "status: running")) for s in lines), 120,
                 f"the watch to print the run's move: {lines}")
    finally:
        proc.kill()
        proc.wait()
        for run in (running, first, second):
            lab.http.post(f"/api/runs/{run['id']}/cancel")
