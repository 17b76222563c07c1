"""`./cnnlab start` — the embedded lab in one command: migrate the SQLite database, start the
backend and one local worker (the broker is a SQLite file: no server to install), open the
dashboard. Ctrl-C stops everything. Lab mode runs the same commands (docker-compose.yml).
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

from backend.auth.mode import worker_credential
from backend.settings import settings

ROOT = Path(__file__).resolve().parents[1]

# the service commands; docker-compose.yml runs exactly these (tests/test_deployment.py checks)
MIGRATE = [sys.executable, "-m", "backend.migrate", "upgrade", "head"]
BACKEND = [sys.executable, "-m", "backend.serve"]
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="./cnnlab start", description=__doc__)
    parser.add_argument("--no-browser", action="store_true", help="do not open the dashboard")
    parser.add_argument("--no-worker", action="store_true", help="start the backend only")
    args = parser.parse_args()
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # the local worker proves itself with the lab's worker credential, kept under the var folder
    env["CNNLAB_WORKER_TOKEN"] = worker_credential()
    subprocess.run(MIGRATE, cwd=ROOT, env=env, check=True)
    children = [subprocess.Popen(BACKEND, cwd=ROOT, env=env)]
    if not args.no_worker:
        children.append(subprocess.Popen(WORKER, cwd=ROOT, env=env))
    url = f"http://{settings.HOST}:{settings.PORT}"

    def stop(*_args: object, code: int = 0) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if wait_healthy(url):
        print(f"cnnlab is up: {url}  (API docs: {url}/docs; Ctrl-C stops it)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
    else:
        print(f"cnnlab: the backend did not answer at {url}", file=sys.stderr)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop(code=1)  # a child died: take the rest down too, and say so
    return 1


if __name__ == "__main__":
    sys.exit(main())
