"""The seed study at full scale, through a lab of its own, resumable across sessions.

    python -m benchmarks.seed_full run --hours 2     # start or resume; stops and packs its state after 2 h
    python -m benchmarks.seed_full status            # where each run stands (from the packed state)
    python -m benchmarks.seed_full export            # once every run has ended: the report under benchmarks/studies/
    python -m benchmarks.seed_full run --tiny --state /tmp/s.tar.gz   # seconds: generated images, 2 epochs

``run`` starts a private embedded lab (its own SQLite database, broker and checkpoints under
``var/seed_full``, port 8077, local mode) with two CPU worker slots of one thread each
(``CNNLAB_WORKER_PROCESSES=2``: two runs at a time, one core each), launches the shipped study
"The seed report, reproduced" at epochs scale 1 (120 epochs, the seed's protocol: no holdout, the
test set read every epoch) once, and waits. At the deadline (or when every run has ended) it kills
the workers (a run loses at most the epoch in progress: it resumes from its last checkpoint, which
the backend holds), stops the backend, and packs what a later session needs into one file,
``benchmarks/results/seed_full/state.tar.gz`` (committed): the database, the broker, the worker
credential and the checkpoints of the runs not yet ended. The next ``run`` unpacks it when
``var/seed_full`` is absent (a fresh checkout) and goes on: the reaper requeues the interrupted
runs, the workers resume them.

The lab's rule holds: a run trains at most an hour (``TIME_BUDGET_S``). On this CPU one slot trains
``wide_deep`` at batch 16 in about 24 s an epoch when the machine is otherwise quiet, so a
120-epoch run fits in about 48 minutes; on a busy machine its epochs slow down and the budget may
end it early (the run says so: ``timed_out`` with its last epoch). Run it on a quiet machine, never
beside the test suite. The batch-4 and batch-8 entries need more than an hour on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "seed_full"
STATE = Path(__file__).parent / "results" / "seed_full" / "state.tar.gz"
PORT = 8077
SLUG = "seed-report"
EXPORT_NAME = "seed-report-full"
ACTIVE = ("queued", "running")


def lab_env(var: Path, port: int, cifar10: str, tiny: bool, slots: int = 2) -> dict[str, str]:
    """The private lab's settings: ``slots`` runs at a time, the machine's cores shared among them
    (the worker gives each child cores / slots intra-op threads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNLAB_")}
    env.update({
        "CNNLAB_VAR_DIR": str(var), "CNNLAB_PORT": str(port), "CNNLAB_HOST": "127.0.0.1",
        "CNNLAB_BACKEND_URL": f"http://127.0.0.1:{port}", "CNNLAB_AUTH": "local", "CNNLAB_CIFAR10": cifar10,
        "CNNLAB_WORKER_GPUS": "", "CNNLAB_WORKER_PROCESSES": str(slots),
        # a run interrupted by the end of a session resumes in the next: many starts are expected
        "CNNLAB_MAX_ATTEMPTS": "50",
    })
    if tiny:
        env["CNNLAB_HEARTBEAT_TIMEOUT_S"] = "5"
    return env


def tiny_cifar(folder: Path) -> str:
    """A tiny image-folder tree (10 classes, coloured noise) the lab's workers load like CIFAR-10."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, per_class in (("train", 12), ("test", 4)):
        for label in range(10):
            d = folder / split / f"class{label}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                base = np.array([label * 25, 255 - label * 25, (label * 60) % 255])
                pixels = np.clip(base + rng.integers(-40, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(d / f"{i}.png")
    return str(folder)


def unpack(state: Path, var: Path) -> bool:
    if var.exists() or not state.exists():
        return False
    var.mkdir(parents=True)
    with tarfile.open(state) as tar:
        tar.extractall(var, filter="data")
    return True


def active_run_ids(var: Path) -> set[int]:
    db = var / "cnnlab.db"
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(
            f"SELECT id FROM runs WHERE status IN ({', '.join('?' for _ in ACTIVE)})", ACTIVE)}


def pack(var: Path, state: Path) -> None:
    """The database, the broker, the worker credential, and the checkpoints of the runs not ended."""
    keep = {f"run_{i}" for i in active_run_ids(var)}
    if (var / "cnnlab.db").exists():  # the write-ahead log into the database file: one file to pack
        with sqlite3.connect(var / "cnnlab.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in ("cnnlab.db", "broker.db", "worker-token"):
            if (var / name).exists():
                tar.add(var / name, arcname=name)
        checkpoints = var / "checkpoints"
        if checkpoints.exists():
            for run_dir in sorted(checkpoints.iterdir()):
                if run_dir.name in keep:
                    tar.add(run_dir, arcname=f"checkpoints/{run_dir.name}")
    os.replace(tmp, state)
    print(f"packed {state} ({state.stat().st_size / 1e6:.1f} MB; checkpoints of runs {sorted(keep)})", flush=True)


class Lab:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log.open("a")
        subprocess.run([sys.executable, "-m", "backend.cli.migrate", "upgrade", "head"], cwd=ROOT, env=env,
                       check=True, stdout=self.log, stderr=subprocess.STDOUT)
        self.backend = subprocess.Popen([sys.executable, "-m", "backend.cli.serve"], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.url = env["CNNLAB_BACKEND_URL"]
        self.http = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.http.get("/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.backend.poll() is not None:
                raise SystemExit(f"the lab's backend did not come up: see {log}")
            time.sleep(0.5)
        self.workers = subprocess.Popen([sys.executable, "-m", "worker.serve"], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.workers.poll() is None:  # a hard stop: the runs resume from their last checkpoint
            os.killpg(self.workers.pid, signal.SIGKILL)
            self.workers.wait()
        self.backend.send_signal(signal.SIGTERM)
        try:
            self.backend.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.backend.kill()
        self.log.close()


def study(http: httpx.Client) -> dict[str, Any]:
    for s in http.get("/api/studies").raise_for_status().json()["data"]:
        if s["slug"] == SLUG:
            return s  # type: ignore[no-any-return]
    raise SystemExit(f"no study {SLUG!r} on the lab")


def launch_once(http: httpx.Client, tiny: bool) -> tuple[dict[str, Any], int]:
    s = study(http)
    if s["launches"]:
        return s, s["launches"][-1]["id"]
    body: dict[str, Any] = {"epochs_scale": 1.0}
    if tiny:
        body = {"epochs_scale": 2 / 120, "data": {"train_limit": 120, "test_limit": 40}}
    r = http.post(f"/api/studies/{s['id']}/launches", json=body)
    r.raise_for_status()
    print(f"launched {SLUG} at epochs scale {body['epochs_scale']:g}: launch {r.json()['id']}", flush=True)
    return s, r.json()["id"]


def progress(http: httpx.Client, study_id: int, launch_id: int) -> dict[str, Any]:
    return http.get(f"/api/studies/{study_id}/report",  # type: ignore[no-any-return]
                    params={"launch": launch_id, "images": "false"}).raise_for_status().json()


def line(report: dict[str, Any]) -> str:
    return " · ".join(f"{r['entry']}: {r['status']} {r['epochs_done'] or 0} ep" for r in report["table"])


def recorded_epochs(var: Path) -> dict[int, int]:
    """Each run's last recorded epoch now: the epochs after it are this session's."""
    db = var / "cnnlab.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT run_id, MAX(epoch) FROM epoch_metrics GROUP BY run_id").fetchall())


def too_slow(var: Path, before: dict[int, int]) -> str | None:
    """Why this machine cannot train the seed's protocol inside the lab's hour, judged on the epochs a
    running run recorded in this session (at least two; ``before`` holds each run's last epoch at the
    start): its seconds so far plus their mean × the epochs it still plans, over its time budget, would
    end it timed out short of the seed's epochs. Earlier sessions' epochs count as spent budget only, not
    as this machine's speed. None while every running run fits (or nothing is known yet)."""
    db = var / "cnnlab.db"
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT r.id, r.name, r.epochs, r.config, e.epoch, e.seconds FROM runs r "
            "JOIN epoch_metrics e ON e.run_id = r.id WHERE r.status = 'running' ORDER BY r.id").fetchall()
    runs: dict[int, tuple[str, int, str]] = {}
    epochs: dict[int, list[tuple[int, float]]] = {}
    for rid, name, planned, config, epoch, seconds in rows:
        runs[rid] = (name, planned, config)
        epochs.setdefault(rid, []).append((epoch, seconds))
    for rid, (name, planned, config) in runs.items():
        recent = [s for e, s in epochs[rid] if e > before.get(rid, 0)]
        if len(recent) < 2:
            continue
        mean_s = sum(recent) / len(recent)
        budget = float(json.loads(config)["time_budget_s"])
        done, spent = max(e for e, _ in epochs[rid]), sum(s for _, s in epochs[rid])
        projected = spent + mean_s * (planned - done)
        if projected > budget:
            return (f"run {rid} ({name}) trains {mean_s:.0f} s an epoch here: its {planned} epochs would take "
                    f"{projected / 60:.0f} min, over its budget of {budget / 60:.0f} min")
    return None


def run(args: argparse.Namespace) -> None:
    var, state = args.var, args.state
    if unpack(state, var):
        print(f"unpacked {state} into {var}", flush=True)
    var.mkdir(parents=True, exist_ok=True)
    cifar10 = tiny_cifar(var / "tiny_cifar") if args.tiny else args.cifar10
    before = recorded_epochs(var)
    lab = Lab(lab_env(var, args.port, cifar10, args.tiny, args.slots), var / "lab.log")
    deadline = time.monotonic() + args.hours * 3600
    slow = False
    try:
        s, launch_id = launch_once(lab.http, args.tiny)
        shown = None
        while True:
            report = progress(lab.http, s["id"], launch_id)
            if (text := line(report)) != shown:
                print(time.strftime("%H:%M:%S"), text, flush=True)
                shown = text
            if report["finished"]:
                print("every run has ended", flush=True)
                break
            if time.monotonic() > deadline:
                print(f"deadline reached ({args.hours:g} h): stopping and packing", flush=True)
                break
            if not args.allow_slow and (why := too_slow(var, before)):
                # its runs would be recorded timed out short of the seed's epochs: keep the packed state as
                # it was (the epochs trained here are dropped) for a faster machine
                print(f"too slow for the seed's protocol: {why}. Stopping without packing "
                      "(--allow-slow trains on regardless)", flush=True)
                slow = True
                break
            time.sleep(args.poll)
    finally:
        lab.stop()
        if not slow:
            pack(var, state)
    if slow:
        raise SystemExit(3)


def export(args: argparse.Namespace) -> None:
    """The finished launch's report, as run_studies exports one: CSV, HTML, JSON, PNG."""
    from benchmarks.run_studies import OUT, render_png

    unpack(args.state, args.var)
    lab = Lab(lab_env(args.var, args.port, args.cifar10, args.tiny), args.var / "lab.log")
    lab.workers.send_signal(signal.SIGKILL)  # nothing to train: the report only
    try:
        s = study(lab.http)
        launch_id = s["launches"][-1]["id"]
        report = progress(lab.http, s["id"], launch_id)
        if not report["finished"]:
            raise SystemExit(f"not finished yet: {line(report)}")
        out = args.out or OUT
        out.mkdir(parents=True, exist_ok=True)
        params = {"launch": launch_id}
        (out / f"{EXPORT_NAME}.csv").write_text(lab.http.get(f"/api/studies/{s['id']}/report.csv",
                                                             params=params).text)
        html = out / f"{EXPORT_NAME}.html"
        html.write_text(lab.http.get(f"/api/studies/{s['id']}/report.html", params=params).text)
        (out / f"{EXPORT_NAME}.json").write_text(json.dumps(report, indent=1))
        if not args.tiny:
            render_png(html, out / f"{EXPORT_NAME}.png")
        for claim in report["claims"]:
            print(f"  [{claim['verdict']}] {claim['text']} — {claim['detail']}")
    finally:
        lab.stop()


def status(args: argparse.Namespace) -> None:
    if unpack(args.state, args.var):
        print(f"unpacked {args.state}")
    db = args.var / "cnnlab.db"
    if not db.exists():
        print("nothing launched yet")
        return
    with sqlite3.connect(db) as conn:
        for row in conn.execute("SELECT id, name, status, epochs_done, epochs, train_seconds, last_train_acc, "
                                "last_test_acc FROM runs ORDER BY id"):
            rid, name, st, done, planned, seconds, train_acc, test_acc = row
            acc = f"train {train_acc:.1%} test {test_acc:.1%}" if test_acc is not None else ""
            print(f"run {rid} {name}: {st}, {done}/{planned} epochs, {seconds / 60:.0f} min {acc}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.seed_full", allow_abbrev=False)
    p.add_argument("command", choices=("run", "status", "export"))
    p.add_argument("--hours", type=float, default=8.0, help="run: stop and pack after this long")
    p.add_argument("--allow-slow", action="store_true",
                   help="run: train on even where the runs' epochs say they cannot finish inside their budget")
    p.add_argument("--slots", type=int, default=2, choices=(1, 2),
                   help="run: runs at a time (2: one core each; 1: both cores for one run, for a CPU too slow "
                        "to train a 120-epoch run on one core inside the hour)")
    p.add_argument("--tiny", action="store_true", help="generated images, 2 epochs per entry: seconds")
    p.add_argument("--state", type=Path, default=STATE, help="the packed state (committed)")
    p.add_argument("--var", type=Path, default=VAR, help="the lab's folder while it runs")
    p.add_argument("--port", type=int, default=PORT)
    p.add_argument("--poll", type=float, default=30.0)
    p.add_argument("--out", type=Path, help="export: where the report goes (default benchmarks/studies)")
    p.add_argument("--cifar10", default=str(ROOT.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"))
    args = p.parse_args(argv)
    {"run": run, "status": status, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
