"""Service and page latency with a lab-sized database: 10,000 runs x 200 epochs on PostgreSQL.

    python -m benchmarks.service_latency                      # 10,000 runs x 200 epochs (minutes)
    python -m benchmarks.service_latency --runs 2000 --epochs 100
    python -m benchmarks.service_latency --tiny --out /tmp/s.json   # 200 x 20, fewer repeats (the suite runs it)

Seeds a fresh PostgreSQL database (COPY: runs as the lab records them now, holding out the default
validation images, their best epoch chosen on validation), starts the real backend process on it,
then measures:
* the run list (GET /api/runs, 50 per page: newest first, sorted by the headline
  test_acc_at_best_val, filtered) and a 100-run compare (GET /api/compare), median of repeated
  requests, against a reference measured in the same run: the headline-sorted list computed the
  naive way, from every metric row in SQL (each run's test accuracy at its best validation epoch,
  and its epoch count);
* epoch recorded by a worker call (with the claim's lease, as a worker sends it) → its SSE event
  at a client (median over 20 epochs);
* in headless Chromium: the runs page ready, and a 20-run compare drawn.
Prints the figures and writes benchmarks/results/service_latency.json (--out elsewhere; the tiny
mode's default is service_latency-tiny.json, so the committed results stay as measured).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text

from benchmarks.common import CHROMIUM, CHROMIUM_ARGS, backend_process, fresh_postgres_database, machine

RESULTS = Path(__file__).parent / "results"
ARCHITECTURE = {"family": "compact", "name": "compact", "stages": [[32, 32], [64, 64], [112, 112]]}
HOLDOUT = 5000  # the lab's default validation split: the best epoch is chosen on it
OWNERS = 17  # user0 … user16
WORKER_TOKEN = f"bench-worker-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Plan:
    runs: int
    epochs: int
    list_repeat: int = 30
    compare_repeat: int = 10
    naive_repeat: int = 5
    sse_epochs: int = 20
    sse_gap_s: float = 0.3
    page_loads: int = 5  # the first is left out of the median
    compare_runs: int = 100
    drawn_runs: int = 20


def tiny_plan(runs: int, epochs: int) -> Plan:
    return Plan(runs, epochs, list_repeat=5, compare_repeat=3, naive_repeat=3, sse_epochs=5, sse_gap_s=0.1,
                page_loads=3)


def config(epochs: int) -> dict[str, Any]:
    return {"architecture": ARCHITECTURE, "epochs": epochs, "data": {"holdout": HOLDOUT}}


def seed(url: str, plan: Plan) -> None:
    """Runs as the backend records them now (backend.runs.service.refresh_summary's columns), their
    metric rows with validation figures, and their owners; every NOT NULL column is given or has a
    server default (group_id, sweep_id, search_id stay NULL, prune_requested false)."""
    from backend.architecture import summarize
    from backend.runs.admission import checked_config

    checked = checked_config(config(plan.epochs))
    summary = summarize(checked.architecture)
    stored_config = json.dumps(checked.model_dump(mode="json"))
    rng = random.Random(0)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    runs, metrics = io.StringIO(), io.StringIO()
    for run_id in range(1, plan.runs + 1):
        ceiling = rng.uniform(0.6, 0.9)
        best_val, best_epoch, best_test, at_best, total = -1.0, 0, -1.0, 0.0, 0.0
        train = test = val = 0.0
        for e in range(1, plan.epochs + 1):
            test = min(1.0, max(0.0, ceiling * (1 - math.exp(-e / 20)) + rng.uniform(-0.01, 0.01)))
            val = min(1.0, max(0.0, test + rng.uniform(-0.01, 0.01)))
            train = min(1.0, test + e / 1000)
            secs = rng.uniform(5, 6)
            total += secs
            best_test = max(best_test, test)
            if val > best_val:  # the first best, as the trainer chooses
                best_val, best_epoch, at_best = val, e, test
            metrics.write(f"{run_id}\t{e}\t{1 - train}\t{train}\t{1.1 - test}\t{test}\t0.1\t{secs}\t"
                          f"{1.1 - val}\t{val}\t1\t2026-11-28 00:00:00+00\n")
        status = ("succeeded", "failed", "cancelled", "timed_out")[run_id % 4]
        created = f"2026-11-{1 + run_id % 27:02d} 00:00:00+00"
        runs.write("\t".join(map(str, [
            run_id, f"run {run_id}", 1001 + run_id % OWNERS, status, stored_config, checked.architecture.name,
            summary.total_params, summary.total_macs, run_id, plan.epochs, created, 1, "false", plan.epochs,
            HOLDOUT, "val", best_test, best_epoch, best_val, at_best, test, 1 - train, train, 1.1 - test, test, 0.1,
            total])) + "\n")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for i in range(OWNERS):
            cur.execute("INSERT INTO users (id, username, display_name, role, active, created_at) VALUES "
                        "(%s, %s, %s, 'member', true, now())", (1001 + i, f"user{i}", f"user{i}"))
        cur.execute("SELECT setval('users_id_seq', 2000)")
        with cur.copy("COPY runs (id, name, owner_id, status, config, architecture, params, macs, seed, epochs, "
                      "created_at, attempt, cancel_requested, epochs_done, holdout, selected_on, best_test_acc, "
                      "best_epoch, best_val_acc, test_acc_at_best_val, final_test_acc, last_train_loss, "
                      "last_train_acc, last_test_loss, last_test_acc, last_lr, train_seconds) FROM STDIN") as copy:
            copy.write(runs.getvalue())
        with cur.copy("COPY epoch_metrics (run_id, epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds, "
                      "val_loss, val_acc, fraction, recorded_at) FROM STDIN") as copy:
            copy.write(metrics.getvalue())
        cur.execute("SELECT setval('runs_id_seq', %s)", (plan.runs,))
        conn.commit()
        cur.execute("ANALYZE")


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


# The reference: the headline-sorted list page computed from every metric row per request — each
# run's test accuracy at its first best validation epoch, and its epoch count — with no summary columns.
NAIVE_LIST = text(
    "SELECT r.id, r.name, m.test_acc AS headline, m.epochs FROM runs r JOIN ("
    "  SELECT DISTINCT ON (run_id) run_id, test_acc, count(*) OVER (PARTITION BY run_id) AS epochs"
    "  FROM epoch_metrics ORDER BY run_id, val_acc DESC, epoch) m ON m.run_id = r.id "
    "ORDER BY headline DESC, r.id DESC LIMIT 50")


def naive_list_ms(url: str, repeat: int) -> float:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(NAIVE_LIST).fetchall()
        ours = conn.execute(text("SELECT id FROM runs ORDER BY test_acc_at_best_val DESC, id DESC LIMIT 50")).all()
        assert [r.id for r in rows] == [r.id for r in ours], "the reference computes another list"
        ms = median_ms(lambda: conn.execute(NAIVE_LIST).fetchall(), repeat)
    engine.dispose()
    return ms


def sse_latency_ms(http: httpx.Client, plan: Plan) -> float:
    """A run created through the API, claimed with the worker credential; its epochs reported with
    the claim's lease (X-Run-Lease), as worker.reporter sends them, while a client reads its stream."""
    run = http.post("/api/runs", json={"name": "sse probe", "config": config(plan.sse_epochs)})
    run.raise_for_status()
    run_id = run.json()["id"]
    worker = httpx.Client(base_url=http.base_url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    claimed = worker.post(f"/api/worker/runs/{run_id}/claim", json={"host": "bench", "device": "cpu"})
    claimed.raise_for_status()
    claim = claimed.json()
    worker.headers["X-Run-Lease"] = claim["lease"]
    arrivals: dict[int, float] = {}

    def listen() -> None:
        event = None
        stream_url = str(http.base_url).rstrip("/") + f"/api/runs/{run_id}/events"
        with httpx.stream("GET", stream_url, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "metric":
                    arrivals[json.loads(line[6:])["epoch"]] = time.perf_counter()
                    if len(arrivals) == plan.sse_epochs:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1)
    sent: dict[int, float] = {}
    try:
        for e in range(1, plan.sse_epochs + 1):
            m = {"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.5, "lr": 0.1,
                 "seconds": 1.0, "val_loss": 1.0, "val_acc": 0.5}  # the run holds out validation images
            sent[e] = time.perf_counter()
            reported = worker.post(f"/api/worker/runs/{run_id}/epochs",
                                   json={"attempt": claim["attempt"], "metrics": [m]})
            assert reported.status_code == 204, reported.text
            time.sleep(plan.sse_gap_s)
        listener.join(timeout=30)
        finished = worker.post(f"/api/worker/runs/{run_id}/finish",
                               json={"attempt": claim["attempt"], "status": "succeeded"})
        assert finished.status_code == 204, finished.text
    finally:
        worker.close()
    missing = sorted(set(sent) - set(arrivals))
    assert not missing, f"no SSE metric event for epochs {missing}"
    return statistics.median((arrivals[e] - sent[e]) * 1000 for e in sent)


def browser_ms(http: httpx.Client, plan: Plan) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out = {}
    drawn = min(plan.drawn_runs, plan.runs)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        ids = ",".join(str(i) for i in range(1, drawn + 1))
        for name, path, ready in (("runs_page_ready_ms", "/", "body[data-loaded='1']"),
                                  ("compare_drawn_ms", f"/compare?ids={ids}", "body[data-ready='1']")):
            samples = []
            for _ in range(plan.page_loads):
                t = time.perf_counter()
                page.goto(str(http.base_url).rstrip("/") + path)
                page.wait_for_selector(ready)
                samples.append((time.perf_counter() - t) * 1000)
            out[name] = statistics.median(samples[1:])
        points = page.evaluate("document.getElementById('compare-page').dataset.points")
        assert points == str(drawn * plan.epochs), points
        browser.close()
    return out


def measure(plan: Plan) -> dict[str, Any]:
    from backend.cli.migrate import upgrade

    with fresh_postgres_database() as url:
        var = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        upgrade(url)
        t = time.perf_counter()
        seed(url, plan)
        seeded_s = time.perf_counter() - t
        with backend_process(url, var, CNNLAB_WORKER_TOKEN=WORKER_TOKEN) as http:
            compared = min(plan.compare_runs, plan.runs)
            ids = ",".join(str(i) for i in range(1, compared + 1))

            def get(path: str) -> Callable[[], object]:
                return lambda: http.get(path).raise_for_status()

            results: dict[str, Any] = {
                "machine": machine(),
                "seed_seconds": round(seeded_s, 1),
                "runs": plan.runs, "epochs_per_run": plan.epochs,
                "list_ms": median_ms(get("/api/runs?limit=50"), plan.list_repeat),
                "list_sorted_by_headline_ms": median_ms(get("/api/runs?limit=50&sort=-test_acc_at_best_val"),
                                                        plan.list_repeat),
                "list_filtered_ms": median_ms(get("/api/runs?limit=50&status=succeeded&owner=user3&q=run"),
                                              plan.list_repeat),
                "compare_runs": compared,
                "compare_ms": median_ms(get(f"/api/compare?ids={ids}"), plan.compare_repeat),
                "reference_naive_aggregate_list_ms": naive_list_ms(url, plan.naive_repeat),
                "sse_epoch_to_event_ms": sse_latency_ms(http, plan),
                "drawn_runs": min(plan.drawn_runs, plan.runs),
            }
            results.update(browser_ms(http, plan))
    results["ratio_naive_over_list"] = (results["reference_naive_aggregate_list_ms"]
                                        / results["list_sorted_by_headline_ms"])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs seeded (default 10,000; tiny 200)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 200; tiny 20)")
    parser.add_argument("--tiny", action="store_true", help="200 runs x 20 epochs, fewer repeats (seconds)")
    parser.add_argument("--out", type=Path, help="results JSON (default benchmarks/results/service_latency.json; "
                                                 "tiny service_latency-tiny.json)")
    args = parser.parse_args(argv)
    runs = args.runs or (200 if args.tiny else 10_000)
    epochs = args.epochs or (20 if args.tiny else 200)
    if runs < 1 or epochs < 1:
        parser.error("--runs and --epochs are at least 1")
    plan = tiny_plan(runs, epochs) if args.tiny else Plan(runs, epochs)
    results = {"tiny": args.tiny, **measure(plan)}
    out = args.out or RESULTS / ("service_latency-tiny.json" if args.tiny else "service_latency.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for k, v in results.items():
        print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
