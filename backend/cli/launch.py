"""`./cnnlab start` — the embedded lab in one command: migrate the SQLite database, start the
backend and one local worker (the broker is a SQLite file: no server to install), open the
dashboard. A worker that dies is restarted (Supervisor); Ctrl-C stops everything. Lab mode runs
the same commands (docker-compose.yml).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path

from backend.core.settings import settings
from backend.identity.worker_credential import worker_credential

ROOT = Path(__file__).resolve().parents[2]

# the service commands; docker-compose.yml runs exactly these (tests/backend/cli/test_deployment.py checks)
MIGRATE = [sys.executable, "-m", "backend.cli.migrate", "upgrade", "head"]
BACKEND = [sys.executable, "-m", "backend.cli.serve"]
WORKER = [sys.executable, "-m", "worker.serve"]


def wait_healthy(url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


class Supervisor:
    """The embedded lab's processes: the backend, and a worker that is restarted when it dies
    (kill -9, out of memory) with a growing pause, so the dashboard stays up and the interrupted
    run resumes from its last checkpoint. The backend dying ends the lab (its port is the lab)."""

    BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    STEADY_S = 60.0  # a worker that ran this long starts the pauses over

    def __init__(self, env: dict[str, str], with_worker: bool) -> None:
        self.env, self.with_worker = env, with_worker
        self.backend = subprocess.Popen(BACKEND, cwd=ROOT, env=env)
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_started = 0.0
        self.failures = 0
        self.restart_at: float | None = None
        if with_worker:
            self.start_worker()

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(WORKER, cwd=ROOT, env=self.env)
        self.worker_started = time.monotonic()
        self.restart_at = None
        print(f"cnnlab: worker started (pid {self.worker.pid})", flush=True)

    def children(self) -> list[subprocess.Popen[bytes]]:
        return [c for c in (self.backend, self.worker) if c is not None]

    def tick(self) -> bool:
        """One look at the children; False once the lab must stop (the backend is gone)."""
        if self.backend.poll() is not None:
            print(f"cnnlab: the backend stopped (exit {self.backend.returncode}); stopping the lab", file=sys.stderr,
                  flush=True)
            return False
        now = time.monotonic()
        if self.worker is not None and self.worker.poll() is not None and self.restart_at is None:
            if now - self.worker_started > self.STEADY_S:
                self.failures = 0
            pause = self.BACKOFF_S[min(self.failures, len(self.BACKOFF_S) - 1)]
            self.failures += 1
            code = self.worker.returncode
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            print(f"cnnlab: the worker (pid {self.worker.pid}) died ({how}); the dashboard stays up, restarting the "
                  f"worker in {pause:g} s", file=sys.stderr, flush=True)
            self.restart_at = now + pause
        if self.restart_at is not None and now >= self.restart_at:
            self.start_worker()
        return True

    def stop(self) -> None:
        for child in self.children():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def main() -> int:
    parser = argparse.ArgumentParser(prog="./cnnlab start", description=__doc__)
    parser.add_argument("--no-browser", action="store_true", help="do not open the dashboard")
    parser.add_argument("--no-worker", action="store_true", help="start the backend only")
    args = parser.parse_args()
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # the local worker proves itself with the lab's worker credential, kept under the var folder
    env["CNNLAB_WORKER_TOKEN"] = worker_credential()
    url = f"http://{settings.HOST}:{settings.PORT}"
    # the local worker reports to this backend, on whatever CNNLAB_PORT it was given (unless told otherwise)
    env.setdefault("CNNLAB_BACKEND_URL", url)
    subprocess.run(MIGRATE, cwd=ROOT, env=env, check=True)
    lab = Supervisor(env, with_worker=not args.no_worker)

    def stop(*_args: object, code: int = 0) -> None:
        lab.stop()
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if wait_healthy(url):
        print(f"cnnlab is up: {url}  (API docs: {url}/docs; Ctrl-C stops it)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
    else:
        print(f"cnnlab: the backend did not answer at {url}", file=sys.stderr)
    while lab.tick():
        time.sleep(0.5)
    stop(code=1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
