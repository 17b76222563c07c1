"""A lab's load on the real service, with Locust: PostgreSQL, Redis, `python -m backend.cli.serve` at
1, 2 and 4 backend processes (CNNLAB_BACKEND_PROCESSES), sign-in required.

    python -m benchmarks.load                 # 10 minutes at each process count (the issue's load)
    python -m benchmarks.load --tiny          # 1 minute, a tenth of the load, 1 process (the suite runs it)
    python -m benchmarks.load --processes 2   # one count only; results already written are kept

The load (benchmarks/load_users.py): 100 simulated GPU workers (claim, heartbeat every 5 s, an
epoch every 10 s, a checkpoint every 30 s), 300 open event streams from 30 users, 20 members
browsing lists, run pages and compares, 5 classify clients. Reports p50/p95/p99 per route,
errors (must be 0), and epochs acknowledged against epochs stored (must be equal, run by run).
The reference in the same run is the one-process figure: each row says its p95 against it.
Writes benchmarks/results/load.json after every process count, and resumes from it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import fresh_postgres_database, machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
WORKER_TOKEN = f"cnw_load-{uuid.uuid4().hex}"
CONFIG = {"architecture": {"family": "compact", "name": "load", "stages": [[8], [16]], "num_classes": 10},
          "epochs": 40, "batch_size": 256, "device": "cuda"}


def lab_env(database_url: str, var_dir: Path, port: int, processes: int) -> dict[str, str]:
    return {**os.environ, "CNNLAB_DATABASE_URL": database_url, "CNNLAB_VAR_DIR": str(var_dir),
            "CNNLAB_BROKER_URL": "redis://127.0.0.1:6379/0", "CNNLAB_QUEUE": f"load-{uuid.uuid4().hex[:6]}",
            "CNNLAB_PORT": str(port), "CNNLAB_BACKEND_URL": f"http://127.0.0.1:{port}", "CNNLAB_AUTH": "required",
            "CNNLAB_WORKER_TOKEN": WORKER_TOKEN, "CNNLAB_BACKEND_PROCESSES": str(processes),
            "CNNLAB_MAX_ACTIVE_RUNS_PER_USER": "0", "CNNLAB_HEARTBEAT_TIMEOUT_S": "60"}


def make_people(env: dict[str, str], counts: dict[str, int]) -> dict[str, list[str]]:
    """Users and their API tokens, made with `python -m backend.cli.users` (the lab's own tool)."""
    script = ("import json, sys\n"
              "from backend.core.db import SessionLocal\n"
              "from backend.identity import service as users\n"
              "counts, out = json.loads(sys.argv[1]), {}\n"
              "with SessionLocal() as s:\n"
              "    admin = users.create_user(s, 'load-admin', 'load admin password', 'admin')\n"
              "    for group, n in counts.items():\n"
              "        out[group] = []\n"
              "        for i in range(n):\n"
              "            u = users.create_user(s, f'{group}{i}', 'a member password', 'member')\n"
              "            out[group].append(users.issue_token(s, u, 'load').secret)\n"
              "    s.commit()\n"
              "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(counts)], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    people: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return people


def model_run(url: str, token: str) -> int:
    """A finished run with an exported model (the compact 8/16 net as initialised), for classifying."""
    import numpy as np

    from backend.training.config import TrainConfig
    from worker import export as onnx_export
    from worker.data import ImageDataset
    from worker.model import build_model

    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 256, (40, 32, 32, 3), np.uint8), np.arange(40) % 10,
                        rng.integers(0, 256, (20, 32, 32, 3), np.uint8), np.arange(20) % 10,
                        classes=[f"class{i}" for i in range(10)])
    config = TrainConfig.model_validate({**CONFIG, "epochs": 1, "device": "cpu"})
    mean, std = onnx_export.normalisation(data)
    blob, _ = onnx_export.export(build_model(config.architecture), data,
                                 onnx_export.metadata(config, data, mean, std, 1, 0.1))
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as member:
        created = member.post("/api/runs", json={"name": "classifier", "config": {**CONFIG, "epochs": 1}})
        run_id: int = created.json()["id"]
    worker = {"Authorization": f"Bearer {WORKER_TOKEN}"}
    with httpx.Client(base_url=url, timeout=60, headers=worker) as w:
        lease = w.post(f"/api/worker/runs/{run_id}/claim", json={"host": "load", "device": "cpu"}).json()["lease"]
        w.headers["X-Run-Lease"] = lease
        metric = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.1, "test_loss": 1.0, "test_acc": 0.1, "lr": 0.1,
                  "seconds": 1.0, "val_loss": 1.0, "val_acc": 0.1}  # the config holds out the default 5,000
        assert w.post(f"/api/worker/runs/{run_id}/epochs", json={"attempt": 1, "metrics": [metric]}).status_code == 204
        assert w.put(f"/api/worker/runs/{run_id}/model?epoch=1", content=blob,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
        finished = w.post(f"/api/worker/runs/{run_id}/finish", json={"attempt": 1, "status": "succeeded"})
        assert finished.status_code == 204
    return run_id


def stored_epochs(database_url: str, run_ids: list[int]) -> dict[int, list[int]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    stored: dict[int, list[int]] = {run_id: [] for run_id in run_ids}
    with engine.connect() as conn:
        for run_id, epoch in conn.execute(text("SELECT run_id, epoch FROM epoch_metrics WHERE run_id = ANY(:ids) "
                                               "ORDER BY run_id, epoch"), {"ids": run_ids}):
            stored[run_id].append(epoch)
    engine.dispose()
    return stored


def route_table(stats_csv: Path) -> dict[str, dict[str, Any]]:
    table = {}
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                continue
            table[row["Name"]] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                                  "p50_ms": float(row["50%"] or 0), "p95_ms": float(row["95%"] or 0),
                                  "p99_ms": float(row["99%"] or 0)}
    return table


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (Locust, once it has ended)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a running process and its children (the backend and its uvicorn workers)."""
    import psutil  # Locust's own dependency

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def one_load(processes: int, duration_s: int, scale: float) -> dict[str, Any]:
    from backend.cli.launch import BACKEND, MIGRATE

    with fresh_postgres_database() as database_url, tempfile.TemporaryDirectory(prefix="cnnlab-load-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = lab_env(database_url, Path(tmp) / "var", port, processes)
        subprocess.run(MIGRATE, cwd=ROOT, env=env, check=True, capture_output=True)
        n = {"submitters": max(1, round(10 * scale)), "watchers": max(1, round(30 * scale)),
             "members": max(1, round(20 * scale)), "classifiers": max(1, round(5 * scale))}
        people = make_people(env, n)
        backend_log = open(Path(tmp) / "backend.log", "wb")  # noqa: SIM115 - closed below
        backend = subprocess.Popen(BACKEND, cwd=ROOT, env=env, stdout=backend_log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or backend.poll() is not None:
                    raise SystemExit(f"the backend did not start:\n{(Path(tmp) / 'backend.log').read_text()[-3000:]}")
                time.sleep(0.2)
            plan_path, tally_path = Path(tmp) / "plan.json", Path(tmp) / "tally.json"
            plan = {"scale": scale, "epochs": CONFIG["epochs"], "worker_token": WORKER_TOKEN, "config": CONFIG,
                    "model_run": model_run(url, people["submitters"][0]), "tally": str(tally_path),
                    "duration_s": duration_s, **people}
            plan_path.write_text(json.dumps(plan))
            users = sum(max(1, round(k * scale)) for k in (100, 300, 20, 5))
            command = [sys.executable, "-m", "locust", "-f", str(Path(__file__).parent / "load_users.py"),
                       "--headless", "--host", url, "-u", str(users), "-r", str(max(1, users // 20)),
                       "--run-time", f"{duration_s}s", "--stop-timeout", "20", "--csv", str(Path(tmp) / "load"),
                       "--only-summary", "--loglevel", "WARNING"]
            started, locust_before, backend_before = time.monotonic(), children_cpu_s(), tree_cpu_s(backend.pid)
            done = subprocess.run(command, cwd=ROOT, env={**env, "CNNLAB_LOAD_PLAN": str(plan_path)},
                                  capture_output=True, text=True)
            took = time.monotonic() - started
            cpu = {"locust_s": round(children_cpu_s() - locust_before, 1),
                   "backend_s": round(tree_cpu_s(backend.pid) - backend_before, 1),
                   "machine_s": round(took * (os.cpu_count() or 1), 1)}
            if not tally_path.exists():
                raise SystemExit(f"locust wrote no tally ({done.returncode}):\n{done.stderr[-3000:]}")
            tally = json.loads(tally_path.read_text())
            acknowledged = {int(k): v for k, v in tally["acknowledged"].items()}
            stored = stored_epochs(database_url, list(acknowledged))
            routes = route_table(Path(tmp) / "load_stats.csv")
            mismatched = [run_id for run_id in acknowledged if sorted(acknowledged[run_id]) != stored[run_id]]
            return {
                "processes": processes, "duration_s": duration_s, "wall_s": round(took, 1), "scale": scale,
                "users": users, "routes": routes,
                "errors": sum(r["failures"] for r in routes.values()),
                "epochs_acknowledged": sum(len(v) for v in acknowledged.values()),
                "epochs_stored": sum(len(v) for v in stored.values()),
                "runs_with_different_epochs": mismatched, "unsure_reports": tally["unsure"],
                "stream_events_received": tally["stream_events"], "locust_exit": done.returncode, "cpu": cpu,
                "locust_tail": done.stderr[-1500:],
            }
        finally:
            import signal

            os.killpg(backend.pid, signal.SIGKILL)
            backend.wait()
            backend_log.close()


def print_table(result: dict[str, Any], reference: dict[str, Any] | None) -> None:
    print(f"\n{result['processes']} backend process(es), {result['duration_s']} s, {result['users']} users: "
          f"errors {result['errors']}, epochs acknowledged {result['epochs_acknowledged']} / stored "
          f"{result['epochs_stored']}, stream events {result['stream_events_received']}, CPU s: "
          f"{result.get('cpu', 'not measured')}")
    print(f"{'route':48} {'requests':>8} {'fail':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95 vs 1 proc':>13}")
    for name, row in sorted(result["routes"].items()):
        ratio = ""
        if reference and name in reference["routes"] and reference["routes"][name]["p95_ms"]:
            ratio = f"{row['p95_ms'] / reference['routes'][name]['p95_ms']:.2f}x"
        print(f"{name:48} {row['requests']:>8} {row['failures']:>5} {row['p50_ms']:>8.0f} {row['p95_ms']:>8.0f} "
              f"{row['p99_ms']:>8.0f} {ratio:>13}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="1 minute, a tenth of the load, 1 process")
    parser.add_argument("--processes", type=int, nargs="*", help="backend process counts (default 1 2 4)")
    parser.add_argument("--duration", type=int, help="seconds per process count (default 600; tiny 60)")
    parser.add_argument("--out", type=Path, help="results JSON (default benchmarks/results/load.json)")
    parser.add_argument("--fresh", action="store_true", help="measure again what the results already hold")
    args = parser.parse_args(argv)
    scale = 0.1 if args.tiny else 1.0
    duration = args.duration or (60 if args.tiny else 600)
    counts = args.processes or ([1] if args.tiny else [1, 2, 4])
    out = args.out or RESULTS / ("load-tiny.json" if args.tiny else "load.json")
    report: dict[str, Any] = {} if args.fresh or not out.exists() else json.loads(out.read_text())
    report.update({"machine": machine(), "tiny": args.tiny})
    results: dict[str, Any] = report.setdefault("results", {})
    for processes in counts:
        key = str(processes)
        if key in results and results[key]["duration_s"] == duration and results[key]["scale"] == scale:
            print(f"{processes} process(es): already measured (--fresh to measure again)")
            continue
        results[key] = one_load(processes, duration, scale)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))  # after every count: a stopped benchmark resumes here
    for key in sorted(results, key=int):
        print_table(results[key], results.get("1"))
    bad = [k for k, r in results.items() if r["errors"] or r["epochs_acknowledged"] != r["epochs_stored"]
           or r["runs_with_different_epochs"]]
    print(f"\nwritten to {out}" + (f"; errors or lost epochs at {bad} process(es)" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
