"""`python -m worker.serve`: one process per (GPU, slot), each pinned to its GPU, restarted when it
dies; the plan is printed without a GPU, with the device count faked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.factories import tiny_config
from tests.utils.services import ROOT, wait_for
from worker import serve
from worker.serve import Children, PlanError, Slot, plan


def names(slots: list[Slot]) -> list[str]:
    return [s.name for s in slots]


def test_all_gpus_of_a_two_and_an_eight_gpu_machine() -> None:
    two = plan("all", "2", "1", device_count=2)
    assert names(two) == ["gpu0-1", "gpu0-2", "gpu1-1", "gpu1-2"]
    assert [s.env()["CUDA_VISIBLE_DEVICES"] for s in two] == ["0", "0", "1", "1"]
    eight = plan("all", "3", "1", device_count=8)
    assert len(eight) == 24 and {s.gpu for s in eight} == set(range(8))
    assert all(s.env()["CUDA_VISIBLE_DEVICES"] == str(s.gpu) == s.env()["CNNLAB_GPU_INDEX"] for s in eight)


def test_a_list_of_gpus_and_the_cpu() -> None:
    assert names(plan("0, 2", "1", "1", device_count=4)) == ["gpu0-1", "gpu2-1"]
    cpu = plan("", "2", "3", device_count=8)  # empty: the CPU alone, even on a GPU machine
    assert names(cpu) == ["cpu-1", "cpu-2", "cpu-3"] and all(s.env()["CUDA_VISIBLE_DEVICES"] == "" for s in cpu)
    assert names(plan("all", "2", "1", device_count=0)) == ["cpu-1"]  # a machine without a GPU


@pytest.mark.parametrize(("gpus", "per_gpu", "message"), [
    ("3", "2", "GPU 3 is not on this machine, which reports 2 GPU(s)"),
    ("0,0", "2", "GPU 0 is named twice"),
    ("first", "2", "'first' is not a device index"),
    ("all", "0", "CNNLAB_RUNS_PER_GPU: must be at least 1, got 0"),
    ("all", "two", "CNNLAB_RUNS_PER_GPU: 'two' is not a whole number"),
])
def test_settings_that_name_no_process_are_refused(gpus: str, per_gpu: str, message: str) -> None:
    with pytest.raises(PlanError, match=re.escape(message)):
        plan(gpus, per_gpu, "1", device_count=2)


def test_plan_flag_prints_the_processes_for_a_faked_eight_gpu_host(monkeypatch) -> None:
    monkeypatch.setattr(serve, "gpu_count", lambda: 8)
    monkeypatch.setenv("CNNLAB_WORKER_GPUS", "all")
    monkeypatch.setenv("CNNLAB_RUNS_PER_GPU", "2")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert serve.main(["--plan"]) == 0
    printed = json.loads(out.getvalue())
    assert len(printed) == 16 and printed[0]["env"].items() >= {  # threads, memory share: tests/worker/test_gpu.py
        "CUDA_VISIBLE_DEVICES": "0", "CNNLAB_GPU_INDEX": "0", "CNNLAB_WORKER_SLOT": "gpu0-1"}.items()
    assert {k: printed[0][k] for k in ("name", "gpu", "slot")} == {"name": "gpu0-1", "gpu": 0, "slot": 1}
    assert printed[-1]["name"] == "gpu7-2"


def test_plan_command_on_this_machine_and_a_refused_setting() -> None:
    env = {**os.environ, "CNNLAB_WORKER_GPUS": "", "CNNLAB_WORKER_PROCESSES": "2"}
    done = subprocess.run([sys.executable, "-m", "worker.serve", "--plan"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p["name"] for p in json.loads(done.stdout)] == ["cpu-1", "cpu-2"]
    bad = subprocess.run([sys.executable, "-m", "worker.serve", "--plan"], capture_output=True, text=True,
                         env={**env, "CNNLAB_WORKER_GPUS": "5"}, timeout=120)
    assert bad.returncode == 2 and "error: CNNLAB_WORKER_GPUS: GPU 5 is not on this machine" in bad.stderr


class SleepingChildren(Children):
    """Children whose process only sleeps: the supervision, without a broker."""

    def command(self, slot: Slot) -> list[str]:
        return [sys.executable, "-c", "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(120)"]


def test_a_killed_child_is_restarted_and_the_others_train_on(monkeypatch) -> None:
    monkeypatch.setattr(serve, "BACKOFF_S", (0.2,))
    children = SleepingChildren([Slot(0, 1), Slot(1, 1)])
    try:
        first = {name: proc.pid for name, proc in children.procs.items()}
        os.kill(first["gpu0-1"], signal.SIGKILL)
        children.procs["gpu0-1"].wait(timeout=10)

        def restarted() -> bool:
            children.tick()
            return children.procs["gpu0-1"].pid != first["gpu0-1"] and children.procs["gpu0-1"].poll() is None

        wait_for(restarted, 10, "gpu0-1 restarted")
        assert children.procs["gpu1-1"].pid == first["gpu1-1"] and children.procs["gpu1-1"].poll() is None
        assert children.failures["gpu0-1"] == 1 and children.failures["gpu1-1"] == 0
    finally:
        children.stop()
    assert all(proc.poll() is not None for proc in children.procs.values())


@pytest.mark.integration
def test_two_runs_train_at_once_on_one_worker_with_two_slots(lab) -> None:
    for queued in lab.http.get("/api/runs", params={"status": "queued", "limit": 500}).json()["data"]:
        lab.http.post(f"/api/runs/{queued['id']}/cancel")  # earlier tests' leftovers would go first
    proc = lab.start_worker(CNNLAB_WORKER_GPUS="", CNNLAB_WORKER_PROCESSES="2")
    try:
        ids = [lab.http.post("/api/runs", json={"name": f"slot {i}", "config": tiny_config(epochs=60, batch_size=4)})
               .json()["id"] for i in range(2)]

        def both_running() -> bool:
            return all(lab.http.get(f"/api/runs/{i}").json()["status"] == "running" for i in ids)

        wait_for(both_running, 120, "both runs running at the same time", interval=0.2)
        runs = [lab.http.get(f"/api/runs/{i}").json() for i in ids]
        assert [r["device"] for r in runs] == ["cpu", "cpu"] and all(r["worker_host"] for r in runs)
        for run_id in ids:
            lab.http.post(f"/api/runs/{run_id}/cancel")
        wait_for(lambda: all(lab.http.get(f"/api/runs/{i}").json()["status"] == "cancelled" for i in ids), 60,
                 "both cancelled")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_host_that_narrowed_its_gpus_pins_each_child_to_the_hosts_id() -> None:
    slots = plan("all", "1", "1", device_count=2, visible=["2", "GPU-5f1c"])
    assert [s.env()["CUDA_VISIBLE_DEVICES"] for s in slots] == ["2", "GPU-5f1c"]
    assert [s.name for s in slots] == ["gpu0-1", "gpu1-1"]  # named by the index this host's processes see


def test_a_child_whose_worker_stops_ends_instead_of_supervising(monkeypatch) -> None:
    stopped: list[list[str]] = []
    monkeypatch.setattr(serve.app, "worker_main", lambda argv: stopped.append(argv))  # returns, as Celery 5.7's does

    def never(*_args: object) -> None:
        raise AssertionError("a child started workers of its own")

    monkeypatch.setattr(serve, "Children", never)
    monkeypatch.setenv("CNNLAB_WORKER_GPUS", "")
    assert serve.main(["--child", "gpu3-2"]) == 0
    assert stopped and "gpu3-2@" in " ".join(stopped[0])
    assert len(stopped) == 1


def test_a_single_cpu_slot_is_supervised_like_several(monkeypatch) -> None:
    monkeypatch.setattr(serve.app, "worker_main", lambda _argv: pytest.fail("the one slot ran in the supervisor"))
    supervised: list[list[str]] = []

    class Stopped(Exception):
        pass

    def children(slots: list[Slot]) -> None:
        supervised.append(names(slots))
        raise Stopped  # ends main() before its loop: only what it would supervise is checked here

    monkeypatch.setattr(serve, "Children", children)
    monkeypatch.setenv("CNNLAB_WORKER_GPUS", "")
    monkeypatch.setenv("CNNLAB_WORKER_PROCESSES", "1")
    with pytest.raises(Stopped):
        serve.main([])
    assert supervised == [["cpu-1"]]


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent's pid


def test_a_killed_single_slot_worker_is_restarted_by_its_supervisor(tmp_path) -> None:
    """`python -m worker.serve` with one CPU slot as a real process (its child a real Celery worker
    on a SQLite broker of its own): kill -9 of the child, and the supervisor starts another."""
    env = {**os.environ, "CNNLAB_WORKER_GPUS": "", "CNNLAB_WORKER_PROCESSES": "1", "PYTHONUNBUFFERED": "1",
           "CNNLAB_VAR_DIR": str(tmp_path), "CNNLAB_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
           "CNNLAB_QUEUE": "single-slot-supervision"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "worker.serve"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def children() -> list[int]:
        return [int(pid) for pid in re.findall(r"cpu-1 started \(pid (\d+)\)", log.read_text())]

    try:
        first = wait_for(children, 120, f"the supervisor to start cpu-1 (log: {log})")[0]
        assert parent_of(first) == proc.pid  # a child of the supervisor, not the supervisor itself
        os.kill(first, signal.SIGKILL)

        def restarted() -> int | None:
            later = [pid for pid in children() if pid != first]
            return later[0] if later and parent_of(later[0]) == proc.pid else None

        second = wait_for(restarted, 120, f"a new cpu-1 after kill -9 of {first}")
        assert proc.poll() is None and "cpu-1 stopped (exit -9)" in log.read_text()
        assert parent_of(second) == proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
