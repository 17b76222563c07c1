"""Service and page latency with a lab-sized database: 10,000 runs x 200 epochs on PostgreSQL.

    python -m benchmarks.service_latency

Seeds a fresh PostgreSQL database (COPY), starts the real backend process on it, then measures:
* the run list (GET /api/runs, 50 per page) and a 100-run compare (GET /api/compare), median of
  repeated requests, against a reference measured in the same run: the same list computed the
  naive way, aggregating over every metric row in SQL;
* epoch recorded by a worker call → its SSE event at a client (median over 20 epochs);
* in headless Chromium: the runs page ready, and a 20-run x 200-epoch compare drawn.
Prints the figures and writes benchmarks/results/service_latency.json.
"""

from __future__ import annotations

import io
import json
import math
import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import create_engine, text

from benchmarks.common import CHROMIUM, CHROMIUM_ARGS, backend_process, fresh_postgres_database, machine

RUNS, EPOCHS = 10_000, 200
RESULTS = Path(__file__).parent / "results"
CONFIG = {"architecture": {"family": "compact", "name": "compact", "stages": [[32, 32], [64, 64], [112, 112]]},
          "epochs": EPOCHS}


def seed(url: str) -> None:
    rng = random.Random(0)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        runs, metrics = io.StringIO(), io.StringIO()
        config = json.dumps(CONFIG)
        for run_id in range(1, RUNS + 1):
            ceiling = rng.uniform(0.6, 0.9)
            best, best_epoch, total = -1.0, 0, 0.0
            for e in range(1, EPOCHS + 1):
                test = ceiling * (1 - math.exp(-e / 20)) + rng.uniform(-0.01, 0.01)
                train = min(1.0, test + e / 1000)
                secs = rng.uniform(5, 6)
                total += secs
                if test > best:
                    best, best_epoch = test, e
                metrics.write(f"{run_id}\t{e}\t{1 - train}\t{train}\t{1.1 - test}\t{test}\t0.1\t{secs}\t"
                              "2026-11-28 00:00:00+00\n")
            status = ("succeeded", "failed", "cancelled", "timed_out")[run_id % 4]
            created = f"2026-11-{1 + run_id % 27:02d} 00:00:00+00"
            runs.write("\t".join(map(str, [run_id, f"run {run_id}", 1001 + run_id % 17, status, config, "compact",
                                           244746, 16258144, run_id, EPOCHS, created, 1, "false", EPOCHS, best,
                                           best_epoch, 1 - train, train, 1.1 - test, test, 0.1, total])) + "\n")
        for i in range(17):  # the runs' owners (user0 … user16)
            cur.execute("INSERT INTO users (id, username, display_name, role, active, created_at) VALUES "
                        "(%s, %s, %s, 'member', true, now())", (1001 + i, f"user{i}", f"user{i}"))
        cur.execute("SELECT setval('users_id_seq', 2000)")
        with cur.copy("COPY runs (id, name, owner_id, status, config, architecture, params, macs, seed, epochs, "
                      "created_at, attempt, cancel_requested, epochs_done, best_test_acc, best_epoch, last_train_loss, "
                      "last_train_acc, last_test_loss, last_test_acc, last_lr, train_seconds) FROM STDIN") as copy:
            copy.write(runs.getvalue())
        with cur.copy("COPY epoch_metrics (run_id, epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds, "
                      "recorded_at) FROM STDIN") as copy:
            copy.write(metrics.getvalue())
        cur.execute("SELECT setval('runs_id_seq', %s)", (RUNS,))
        conn.commit()
        cur.execute("ANALYZE")


def median_ms(fn, repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def naive_list_ms(url: str) -> float:
    """The reference: the list page computed by aggregating every metric row per request."""
    engine = create_engine(url)
    sql = text("SELECT r.id, r.name, max(m.test_acc) AS best, count(m.id) AS epochs FROM runs r "
               "JOIN epoch_metrics m ON m.run_id = r.id GROUP BY r.id, r.name ORDER BY best DESC LIMIT 50")
    with engine.connect() as conn:
        ms = median_ms(lambda: conn.execute(sql).fetchall(), 5)
    engine.dispose()
    return ms


def sse_latency_ms(http: httpx.Client) -> float:
    run = http.post("/api/runs", json={"name": "sse probe", "config": {**CONFIG, "epochs": 20}}).json()
    claim = http.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "bench", "device": "cpu"}).json()
    arrivals: dict[int, float] = {}

    def listen() -> None:
        event = None
        stream_url = str(http.base_url).rstrip("/") + f"/api/runs/{run['id']}/events"
        with httpx.stream("GET", stream_url, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "metric":
                    arrivals[json.loads(line[6:])["epoch"]] = time.perf_counter()
                    if len(arrivals) == 20:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1)
    sent: dict[int, float] = {}
    for e in range(1, 21):
        m = {"epoch": e, "train_loss": 1, "train_acc": 0.5, "test_loss": 1, "test_acc": 0.5, "lr": 0.1, "seconds": 1,
             "val_loss": 1, "val_acc": 0.5}  # the run holds out the default 5,000 images
        sent[e] = time.perf_counter()
        http.post(f"/api/worker/runs/{run['id']}/epochs", json={"attempt": claim["attempt"], "metrics": [m]})
        time.sleep(0.3)
    listener.join(timeout=30)
    return statistics.median((arrivals[e] - sent[e]) * 1000 for e in sent if e in arrivals)


def browser_ms(http: httpx.Client) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        ids = ",".join(str(i) for i in range(1, 21))
        for name, path, ready in (("runs_page_ready_ms", "/", "body[data-loaded='1']"),
                                  ("compare_20x200_drawn_ms", f"/compare?ids={ids}", "body[data-ready='1']")):
            samples = []
            for _ in range(5):
                t = time.perf_counter()
                page.goto(str(http.base_url).rstrip("/") + path)
                page.wait_for_selector(ready)
                samples.append((time.perf_counter() - t) * 1000)
            out[name] = statistics.median(samples[1:])
        points = page.evaluate("document.getElementById('compare-page').dataset.points")
        assert points == str(20 * EPOCHS), points
        browser.close()
    return out


def main() -> None:
    import tempfile

    with fresh_postgres_database() as url:
        var = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        from backend.cli.migrate import upgrade

        upgrade(url)
        t = time.perf_counter()
        seed(url)
        seeded_s = time.perf_counter() - t
        with backend_process(url, var) as http:
            ids = ",".join(str(i) for i in range(1, 101))
            results = {
                "machine": machine(),
                "seed_seconds": round(seeded_s, 1),
                "runs": RUNS, "epochs_per_run": EPOCHS,
                "list_ms": median_ms(lambda: http.get("/api/runs?limit=50").raise_for_status(), 30),
                "list_sorted_by_best_ms": median_ms(
                    lambda: http.get("/api/runs?limit=50&sort=-best_test_acc").raise_for_status(), 30),
                "list_filtered_ms": median_ms(
                    lambda: http.get("/api/runs?limit=50&status=succeeded&owner=user3&q=run").raise_for_status(), 30),
                "compare_100_ms": median_ms(lambda: http.get(f"/api/compare?ids={ids}").raise_for_status(), 10),
                "reference_naive_aggregate_list_ms": naive_list_ms(url),
                "sse_epoch_to_event_ms": sse_latency_ms(http),
            }
            results.update(browser_ms(http))
    results["ratio_naive_over_list"] = results["reference_naive_aggregate_list_ms"] / results["list_sorted_by_best_ms"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service_latency.json").write_text(json.dumps(results, indent=2))
    for k, v in results.items():
        print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
