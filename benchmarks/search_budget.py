"""The shipped "best under the budget" search on the real CIFAR-10, pruned and unpruned, then a
15-minute pilot of the best config found beside the best preset's.

    python -m benchmarks.search_budget [--minutes 30] [--pilot-minutes 15] [--keep DIR]
    python -m benchmarks.search_budget --shoot DIR SEARCH_ID   # the search page as a PNG again

One run of the real lab (backend on SQLite, Redis broker, `python -m worker.serve` with two CPU
processes of one thread each): the two searches — the same space (the preset's), sampler (TPE),
seed and trial count — run side by side, one trial at a time each, so each has one core; one
prunes with Hyperband, the other prunes nothing. Trials train 4 epochs on the first 5,000
training images and are scored on the first 1,000 test images. After ``--minutes`` both are
stopped (the trial then running is cancelled and not counted). Reported: trials per CPU-hour,
best accuracy, samples over the budget; then the best config trains on the full training set with
the 15-minute pilot recipe's budget beside the `compact` preset with that recipe, at the same
time, one core each. Writes benchmarks/results/search_budget.json and the pruned search's page
as benchmarks/search_page.png.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import CHROMIUM, CHROMIUM_ARGS, cifar10_path, machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PAGE_PNG = Path(__file__).parent / "search_page.png"
TRAIN_IMAGES, TEST_IMAGES, TRIAL_EPOCHS = 5_000, 1_000, 4
WORKER_TOKEN = f"cnw_bench-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_env(var: Path, port: int) -> dict[str, str]:
    return {**os.environ, "CNNLAB_DATABASE_URL": f"sqlite:///{var / 'cnnlab.db'}", "CNNLAB_VAR_DIR": str(var),
            "CNNLAB_BROKER_URL": "redis://127.0.0.1:6379/0", "CNNLAB_QUEUE": f"bench-{uuid.uuid4().hex[:6]}",
            "CNNLAB_PORT": str(port), "CNNLAB_BACKEND_URL": f"http://127.0.0.1:{port}", "CNNLAB_AUTH": "local",
            "CNNLAB_WORKER_TOKEN": WORKER_TOKEN, "CNNLAB_CIFAR10": str(cifar10_path()),
            "CNNLAB_CACHE_DIR": str(ROOT / "var" / "cache"), "CNNLAB_MAX_ACTIVE_RUNS_PER_USER": "0",
            "CNNLAB_WORKER_GPUS": "", "CNNLAB_WORKER_PROCESSES": "2", "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def lab(var: Path, workers: bool = True) -> Iterator[httpx.Client]:
    from backend.cli.launch import BACKEND, MIGRATE, WORKER

    port = free_port()
    env = lab_env(var, port)
    subprocess.run(MIGRATE, cwd=ROOT, env=env, check=True, capture_output=True)
    logs = [open(var / f"{name}.log", "ab") for name in ("backend", "worker")]  # noqa: SIM115 - closed below
    procs = [subprocess.Popen(BACKEND, cwd=ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT,
                              start_new_session=True)]
    if workers:
        procs.append(subprocess.Popen(WORKER, cwd=ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT,
                                      start_new_session=True))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if client.get("/api/health").status_code == 200:
                    break
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        for log in logs:
            log.close()


def search_body(name: str, pruner: str) -> dict[str, Any]:
    from backend.searches.presets import SEARCH_PRESETS

    body = copy.deepcopy(SEARCH_PRESETS["best_under_budget"].body)
    body["base_config"].update(epochs=TRIAL_EPOCHS, data={"train_limit": TRAIN_IMAGES, "test_limit": TEST_IMAGES})
    body.update(name=name, pruner=pruner, n_trials=200, max_concurrent=1, seed=0)
    return body


def wait_runs(client: httpx.Client, run_ids: list[int], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [client.get(f"/api/runs/{i}").json() for i in run_ids]
        if all(r["status"] not in ("queued", "running") for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(5)


def summary(detail: dict[str, Any], wall_s: float) -> dict[str, Any]:
    finished = [t for t in detail["trials"] if t["state"] in ("completed", "pruned")]
    epochs = sum(t["epochs_done"] or 0 for t in finished)
    best = detail["best"]
    return {
        "search_id": detail["id"], "pruner": detail["pruner"], "wall_s": round(wall_s, 1),
        "trials_finished": len(finished), "complete": detail["counts"]["completed"],
        "pruned": detail["counts"]["pruned"], "infeasible_samples": detail["counts"]["infeasible"],
        "trials_per_cpu_hour": round(len(finished) / (wall_s / 3600), 2),  # one core each
        "epochs_trained": epochs,
        "best_test_acc": best["best_test_acc"] if best else None,
        "best_params": best["net_params"] if best else None, "best_macs": best["macs"] if best else None,
        "best_trial": best["number"] if best else None, "best_point": best["params"] if best else None,
    }


def pilot_config(config: dict[str, Any], seconds: float) -> dict[str, Any]:
    """A trial's config with the 15-minute pilot recipe's budget on the full training set."""
    from backend.searches.views import full_config
    from backend.training.recipes import PILOT_15MIN

    out = full_config(config, PILOT_15MIN.settings["epochs"])  # the whole training and test sets
    out.update(schedule_by=PILOT_15MIN.settings["schedule_by"], tta=PILOT_15MIN.settings["tta"],
               time_budget_s=seconds)
    return out


def shoot(var: Path, search_id: int, out: Path = PAGE_PNG) -> None:
    from playwright.sync_api import sync_playwright

    with lab(var, workers=False) as client, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{client.base_url}/searches/{search_id}")
        page.wait_for_selector("#pareto-params .main-svg", timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    from PIL import Image

    Image.open(out).convert("RGB").quantize(colors=256).save(out, optimize=True)  # a third of the bytes
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="wall time of the two searches")
    parser.add_argument("--pilot-minutes", type=float, default=15.0, help="the pilots' time budget")
    parser.add_argument("--keep", type=Path, help="the lab's folder (kept); default a temporary one")
    parser.add_argument("--shoot", nargs=2, metavar=("DIR", "SEARCH_ID"), help="only the page's PNG, again")
    args = parser.parse_args()
    if args.shoot:
        shoot(Path(args.shoot[0]), int(args.shoot[1]))
        return
    var = args.keep or Path(tempfile.mkdtemp(prefix="cnnlab-search-bench-"))
    var.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    from worker.data import load_dataset

    load_dataset(cifar10_path(), ROOT / "var" / "cache")  # decoded once, before the clock starts
    result: dict[str, Any] = {"machine": machine(), "lab": str(var), "train_images": TRAIN_IMAGES,
                              "test_images": TEST_IMAGES, "trial_epochs": TRIAL_EPOCHS}
    with lab(var) as client:
        started = time.monotonic()
        ids = {}
        for pruner, name in (("hyperband", "pruned (hyperband)"), ("none", "unpruned")):
            r = client.post("/api/searches", json=search_body(f"best under the budget: {name}", pruner))
            r.raise_for_status()
            ids[pruner] = r.json()["id"]
        print(f"searches {ids} started", flush=True)
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(30)
            line = {p: client.get(f"/api/searches/{i}").json()["counts"] for p, i in ids.items()}
            print(f"{(time.monotonic() - started) / 60:5.1f} min {line}", flush=True)
        wall = time.monotonic() - started
        for search_id in ids.values():
            client.post(f"/api/searches/{search_id}/stop").raise_for_status()
        time.sleep(3)
        for pruner, search_id in ids.items():
            result[pruner] = summary(client.get(f"/api/searches/{search_id}").json(), wall)
            print(json.dumps(result[pruner]), flush=True)
        best = max((client.get(f"/api/searches/{i}").json()["best"] for i in ids.values()),
                   key=lambda b: b["best_test_acc"] if b else -1)
        from backend.training.recipes import PILOT_15MIN

        seconds = args.pilot_minutes * 60
        pilots = [{"name": "pilot: compact preset", "config": PILOT_15MIN.config("compact", time_budget_s=seconds)}]
        if best is not None:
            result["pilot_config"] = pilot_config(best["config"], seconds)
            pilots.insert(0, {"name": "pilot: the searches' best", "config": result["pilot_config"]})
        run_ids = [client.post("/api/runs", json=p).raise_for_status().json()["id"] for p in pilots]
        done = wait_runs(client, run_ids, seconds + 900)
        result["pilot"] = [{k: r[k] for k in ("name", "status", "params", "macs", "best_test_acc", "epochs_done",
                                              "train_seconds")} for r in done]
        print(json.dumps(result["pilot"]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search_budget.json").write_text(json.dumps(result, indent=2))
    try:
        shoot(var, ids["hyperband"])
    except Exception as exc:  # noqa: BLE001 - the figures are written; the page can be shot again
        print(f"the page's PNG failed ({exc}); run: {sys.executable} -m benchmarks.search_budget --shoot "
              f"{var} {ids['hyperband']}")


if __name__ == "__main__":
    main()
