"""A worker cut off from the lab by a network partition, for longer than its lease's timeout, then
healed. The design: the backend requeues the silent run, another worker resumes it from its last
checkpoint under a new lease, and everything the cut-off attempt says after the heal is refused by
its superseded lease (409) or dropped by the worker once it learns it was superseded — so each
epoch is recorded exactly once.

The test makes its own network: a namespace with a veth pair (``ip netns``, root needed), the
cut-off worker inside it, the backend and a private Redis bound to the host end. Skipped with the
reason where no namespace can be made; in CI that fails instead."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import httpx
import pytest

from tests.utils.factories import tiny_config
from tests.utils.services import ROOT, Lab, postgres_database, require, wait_for

pytestmark = pytest.mark.integration


def ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


class Partition:
    """A namespace joined to this one by a veth pair on a /30 of its own."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns, self.host_end, self.ns_end = f"cnnlab-{tag}", f"cnh{tag}", f"cnn{tag}"
        octet = int(tag[:2], 16) % 250 + 2
        self.host_ip, self.ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"

    def make(self) -> None:
        ip("netns", "add", self.ns)
        ip("link", "add", self.host_end, "type", "veth", "peer", "name", self.ns_end)
        ip("link", "set", self.ns_end, "netns", self.ns)
        ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_end)
        ip("link", "set", self.host_end, "up")
        ip("addr", "add", f"{self.ns_ip}/30", "dev", self.ns_end, ns=self.ns)
        ip("link", "set", self.ns_end, "up", ns=self.ns)
        ip("link", "set", "lo", "up", ns=self.ns)

    def cut(self) -> None:
        ip("link", "set", self.ns_end, "down", ns=self.ns)

    def heal(self) -> None:
        ip("link", "set", self.ns_end, "up", ns=self.ns)

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_end], capture_output=True)


@pytest.fixture
def partition():
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "a network namespace needs root and iproute2")
    net = Partition()
    try:
        net.make()
    except subprocess.CalledProcessError as exc:
        net.remove()
        require(False, f"no network namespace could be made here: {exc.stderr.strip()}")
    yield net
    net.remove()


@pytest.fixture
def redis_on(partition):
    """A private redis-server on the host end of the veth (and on loopback, for the other worker)."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed")
    port = int(uuid.uuid4().int % 20000) + 30000
    # protected mode off: it answers only on loopback and the veth of the test's own namespace
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", partition.host_ip, "--save", "",
                             "--appendonly", "no", "--protected-mode", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield port
    proc.kill()
    proc.wait()


def test_a_partitioned_worker_loses_its_run_and_no_epoch_is_recorded_twice(partition, redis_on, dataset,
                                                                              tmp_path) -> None:
    timeline: list[tuple[str, float]] = []
    t0 = time.monotonic()

    def mark(what: str) -> None:
        timeline.append((what, round(time.monotonic() - t0, 2)))

    with postgres_database() as database:
        lab = Lab(tmp_path, database, f"redis://{partition.host_ip}:{redis_on}/0", dataset,
                  CNNLAB_HOST=partition.host_ip, CNNLAB_ALLOWED_HOSTS=f"{partition.host_ip},127.0.0.1")
        lab.url = f"http://{partition.host_ip}:{lab.port}"
        lab.env["CNNLAB_BACKEND_URL"] = lab.url
        lab.http = httpx.Client(base_url=lab.url, timeout=30)
        try:
            lab.migrate()
            lab.start_backend()
            log = open(tmp_path / "cut-off-worker.log", "wb")  # noqa: SIM115 - lives with the process
            cut_off = subprocess.Popen(["ip", "netns", "exec", partition.ns, *lab.commands["worker"]], cwd=ROOT,
                                       env=lab.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            lab.workers.append(cut_off)
            epochs = 30
            run = lab.submit(tiny_config(epochs=epochs, batch_size=4), name="partitioned")
            lab.wait_epochs(run["id"], 3, timeout=180)
            assert lab.run(run["id"])["attempt"] == 1
            partition.cut()
            mark("link cut (the worker had recorded 3+ epochs)")
            lab.start_worker(CNNLAB_BROKER_URL=f"redis://127.0.0.1:{redis_on}/0")  # the one that resumes it
            resumed = wait_for(lambda: (lambda r: r if r["attempt"] == 2 and r["status"] == "running" else None)(
                lab.run(run["id"])), 120, "the silent run to be requeued and claimed by the other worker")
            mark(f"requeued and claimed by the other worker (attempt 2, from epoch {resumed['epochs_done']})")
            lab.wait_epochs(run["id"], resumed["epochs_done"] + 2, timeout=180)
            backend_log = next(tmp_path.glob("backend-*.log"))
            healed_at = backend_log.stat().st_size  # what the backend logs from here on came after the heal
            partition.heal()
            mark("link healed")
            final = lab.wait_status(run["id"], {"succeeded", "failed"}, timeout=300)
            mark(f"run {final['status']}")
            assert final["status"] == "succeeded" and final["attempt"] == 2
            recorded = [m["epoch"] for m in lab.metrics(run["id"])]
            assert recorded == list(range(1, epochs + 1))  # each epoch once: none lost, none twice

            # the cut-off worker heard after the heal that its lease is superseded, and stopped its copy
            wait_for(lambda: re.search(rb"superseded", (tmp_path / "cut-off-worker.log").read_bytes(), re.I),
                     120, "the cut-off worker to learn its attempt was superseded")
            mark("the cut-off worker learnt it was superseded")
            after_heal = backend_log.read_bytes()[healed_at:].decode(errors="replace")
            late = re.findall(rf"{re.escape(partition.ns_ip)}:\d+ - \"(\w+ \S+) HTTP/1.1\" (\d+)", after_heal)
            # its heartbeats and presence beats may be answered (they store nothing of the run's work)
            stored = [(request, code) for request, code in late
                      if code.startswith("2") and "/heartbeat" not in request
                      and request != "POST /api/worker/presence"]
            assert stored == []  # nothing the cut-off attempt sent after the heal was stored
            print("timeline:", timeline, "\nthe cut-off worker after the heal:", late)
        finally:
            for proc in lab.workers:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            lab.workers = []
            lab.close()
