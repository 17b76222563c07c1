"""Real services for integration tests: PostgreSQL, Redis, and our own backend and worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from benchmarks.common import PG_ADMIN_URL as PG_ADMIN_URL  # one admin URL (CNNLAB_TEST_PG) for tests and benchmarks
from benchmarks.common import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(ok: bool, reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where a skip would hide a missing check."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_database():
    """A fresh PostgreSQL database for one test module; dropped afterwards. The benchmarks' helper
    (benchmarks.common.fresh_postgres_database: it imports neither tests nor pytest), after the
    tests' rule: skip on a laptop without PostgreSQL, fail in CI."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    with fresh_postgres_database("cnnlab_test") as url:
        yield url


def require_redis() -> None:
    require(port_open(REDIS_HOST, REDIS_PORT), f"Redis is not running on {REDIS_HOST}:{REDIS_PORT}")


class PrivateRedis:
    """A redis-server of our own on a free port, so a test may restart it (no persistence, like the lab's)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is not installed")
        self.binary, self.port, self.proc = binary, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "private redis-server")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Lab:
    """Our backend and worker as real processes, started with the same commands as docker-compose."""

    def __init__(self, tmp: Path, database_url: str, broker_url: str, dataset: Path, **env: str) -> None:
        from backend.cli.launch import BACKEND, MIGRATE, WORKER

        self.commands = {"migrate": MIGRATE, "backend": BACKEND, "worker": WORKER}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.env = {
            **os.environ,
            "CNNLAB_VAR_DIR": str(tmp / "var"),
            "CNNLAB_DATABASE_URL": database_url,
            "CNNLAB_BROKER_URL": broker_url,
            "CNNLAB_QUEUE": f"cnnlab-test-{uuid.uuid4().hex[:8]}",
            "CNNLAB_PORT": str(self.port),
            "CNNLAB_AUTH": "required",
            "CNNLAB_BACKEND_URL": self.url,
            "CNNLAB_CIFAR10": str(dataset),
            "CNNLAB_DATA_DIR": str(tmp / "data"),
            "CNNLAB_HEARTBEAT_INTERVAL_S": "0.5",
            "CNNLAB_HEARTBEAT_TIMEOUT_S": "5",
            "CNNLAB_REAPER_INTERVAL_S": "0.5",
            "CNNLAB_REQUEUE_GRACE_S": "2",
            "CNNLAB_REPORT_RETRY_MAX_S": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.backend: subprocess.Popen | None = None
        self.token = ""
        self.data_dir = tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.workers: list[subprocess.Popen] = []
        self.extra_backends: list[subprocess.Popen] = []
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _spawn(self, name: str, **extra_env: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115 - lives with the process
        return subprocess.Popen(self.commands[name], cwd=ROOT, env={**self.env, **extra_env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def migrate(self) -> None:
        subprocess.run(self.commands["migrate"], cwd=ROOT, env=self.env, check=True, capture_output=True)
        self.admin_password = "tester's password"
        if not self.has_user("tester"):
            self.users("create", "tester", "--admin", "--password-stdin", stdin=self.admin_password)
        self.token = self.users("token", "tester", "--name", "tests").strip().splitlines()[-1]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def users(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """`python -m backend.cli.users ARGS` against this lab's database; its output."""
        done = subprocess.run([sys.executable, "-m", "backend.cli.users", *args], cwd=ROOT, env=self.env, text=True,
                              input=stdin, capture_output=True)
        if check and done.returncode != 0:
            raise AssertionError(f"backend.cli.users {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done.stdout

    def has_user(self, username: str) -> bool:
        return any(line.split()[0] == username for line in self.users("list").splitlines()[1:] if line.strip())

    def member(self, username: str, password: str = "a member's password") -> httpx.Client:
        """A member of this lab (made on first use) and a client carrying a new token of theirs."""
        if not self.has_user(username):
            self.users("create", username, "--password-stdin", stdin=password)
        token = self.users("token", username, "--name", "tests").strip().splitlines()[-1]
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def start_backend(self) -> None:
        self.backend = self._spawn("backend")
        wait_for(self.healthy, 30, "the backend's /api/health")

    def healthy(self, url: str | None = None) -> bool:
        try:
            return self.http.get(f"{url or self.url}/api/health").status_code == 200
        except httpx.TransportError:
            return False

    def backend_processes(self) -> list[int]:
        """The processes serving the backend's port: its own, or its uvicorn workers."""
        assert self.backend is not None
        children = Path(f"/proc/{self.backend.pid}/task/{self.backend.pid}/children").read_text().split()
        serving = [int(pid) for pid in children
                   if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
        return serving or [self.backend.pid]

    def start_extra_backend(self, **env: str) -> str:
        """Another backend process on its own port, on the same database and broker (a lab behind
        a proxy that spreads clients over several backends); its address. Stopped by close()."""
        port = free_port()
        proc = self._spawn("backend", CNNLAB_PORT=str(port), **env)
        self.extra_backends.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: self.healthy(url), 30, f"the extra backend's /api/health on {url}")
        return url

    def stop_backend(self) -> None:
        if self.backend:
            if self.backend.poll() is None:
                os.killpg(self.backend.pid, signal.SIGKILL)  # kill -9, its worker processes included
            self.backend.wait()

    def start_worker(self, **env: str) -> subprocess.Popen:
        """`python -m worker.serve` against this lab; ``env`` adds settings (CNNLAB_WORKER_PROCESSES...)."""
        proc = self._spawn("worker", **env)
        self.workers.append(proc)
        return proc

    def kill_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # kill -9, children included
                proc.wait()
        self.workers = []

    def close(self) -> None:
        self.kill_workers()
        self.stop_backend()
        for proc in self.extra_backends:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.http.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp.glob("*.log")))

    # --- API helpers ---
    def submit(self, config: dict, name: str = "test run") -> dict:
        r = self.http.post("/api/runs", json={"name": name, "owner": "tester", "config": config})
        assert r.status_code == 201, r.text
        return r.json()

    def run(self, run_id: int) -> dict:
        return self.http.get(f"/api/runs/{run_id}").json()

    def wait_status(self, run_id: int, statuses: set[str], timeout: float = 120) -> dict:
        try:
            return wait_for(lambda: (lambda r: r if r["status"] in statuses else None)(self.run(run_id)), timeout,
                            f"run {run_id} to reach {statuses}", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; run: {self.run(run_id)}; logs:\n{self.logs()}") from None

    def wait_epochs(self, run_id: int, epochs: int, timeout: float = 120) -> dict:
        return wait_for(lambda: (lambda r: r if r["epochs_done"] >= epochs else None)(self.run(run_id)), timeout,
                        f"run {run_id} to record {epochs} epochs", interval=0.1)

    def metrics(self, run_id: int) -> list[dict]:
        return self.http.get(f"/api/runs/{run_id}/metrics").json()["data"]


def python() -> str:
    return sys.executable


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb into a temp folder, run as the postgres user), so a
    test can take the database away under a running backend and bring it back."""

    def __init__(self, tmp: Path) -> None:
        import glob
        import shutil as sh

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        require(bool(bins) and os.geteuid() == 0 and sh.which("runuser") is not None,
                "a private PostgreSQL needs initdb, root and runuser")
        self.bin = Path(bins[-1]).parent
        import tempfile

        # pytest's tmp folders are root-only; the postgres user needs a folder it can reach
        self.dir = Path(tempfile.mkdtemp(prefix="cnnlab-pg-")) / "pgdata"
        self.port = free_port()
        self.dir.mkdir()
        os.chmod(self.dir.parent, 0o755)
        sh.chown(self.dir, "postgres", "postgres")
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, cwd="/tmp")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir), "-w", "-l", str(self.dir / "log"),
                           "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1", "start"])

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "stop"])

    def remove(self) -> None:
        import shutil as sh

        sh.rmtree(self.dir.parent, ignore_errors=True)
