"""The runs query on a lab-sized database: 100,000 runs on PostgreSQL, five representative queries.

    python -m benchmarks.query_latency                      # 100,000 runs (minutes to seed)
    python -m benchmarks.query_latency --runs 2000
    python -m benchmarks.query_latency --tiny --out /tmp/q.json   # 500 runs, few repeats (the suite runs it)

Seeds a fresh PostgreSQL database (COPY) with runs as the lab stores them — full configs of three
architecture families with varied learning rates, batch sizes, optimizers and augmentation, their
summary results, tags (run_tags), sweeps and owners — starts the real backend process on it and
times each query through ``GET /api/runs?q=…`` (50 per page, newest first, with its count, as the
runs page asks): p50 and p95 over repeated requests, after a warm-up.

Two references, measured in the same run on the same database:
* ``naive``: what a lab without a query does — read every run (its config and tags) and filter in
  Python; it also checks the API's count of each query;
* ``no_new_indexes``: the same requests with migration 0011's indexes dropped (params,
  architecture, best_val_acc), so the figures say what those indexes buy.
Writes benchmarks/results/query_latency.json (--out elsewhere; the tiny mode's default is
query_latency-tiny.json, so the committed results stay as measured).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text

from benchmarks.common import backend_process, fresh_postgres_database, machine

RESULTS = Path(__file__).parent / "results"
OWNERS = 17  # user0 … user16
SWEEPS = 50
TAGS = {"baseline": 0.05, "aug": 0.2, "ablation": 0.1, "seed-study": 0.02}  # tag → share of runs carrying it
NEW_INDEXES = {"ix_runs_params": "params", "ix_runs_architecture": "architecture",
               "ix_runs_best_val_acc": "best_val_acc"}  # migration 0011


@dataclass(frozen=True)
class Query:
    name: str
    q: str
    matches: Callable[[dict[str, Any]], bool]  # the naive reference's filter of one run (and the count's check)


def _cfg(run: dict[str, Any], *path: str) -> Any:
    node: Any = run["config"]
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


QUERIES = [
    Query("tag_and_status", "tag:baseline status:succeeded",
          lambda r: "baseline" in r["tags"] and r["status"] == "succeeded"),
    Query("options_and_headline", "architecture.family:compact lr>0.1 test_acc>=85%",
          lambda r: _cfg(r, "architecture", "family") == "compact" and _cfg(r, "lr") > 0.1
          and r["test_acc"] is not None and r["test_acc"] >= 0.85),
    Query("params_and_owner", "params<200k owner:user3", lambda r: r["params"] < 200_000 and r["owner"] == "user3"),
    Query("origin_option_negation", "sweep:any augment.cutout>=8 -optimizer:adam",
          lambda r: r["sweep_id"] is not None and _cfg(r, "augment", "cutout") >= 8 and _cfg(r, "optimizer") != "adam"),
    Query("text_or_results", "resnet OR (val_acc>=0.8 batch_size:512)",
          lambda r: "resnet" in r["name"].lower() or "resnet" in r["owner"] or "resnet" in r["architecture"].lower()
          or (r["val_acc"] is not None and r["val_acc"] >= 0.8 and _cfg(r, "batch_size") == 512)),
]


@dataclass(frozen=True)
class Plan:
    runs: int
    repeat: int = 25
    naive_repeat: int = 3


def architectures() -> list[tuple[dict[str, Any], int, int]]:
    """(stored config, params, macs) of the three families' presets and a small compact net, as
    admission stores them."""
    from backend.architecture import summarize
    from backend.runs.admission import checked_config

    out = []
    small = {"family": "compact", "name": "compact-small", "stages": [[16, 16], [32, 32], [64, 64]]}
    for architecture in ("compact", "resnet20", "wide", small):
        checked = checked_config({"architecture": architecture, "epochs": 30})
        summary = summarize(checked.architecture)
        out.append((checked.model_dump(mode="json"), summary.total_params, summary.total_macs))
    return out


def seed(url: str, plan: Plan) -> None:
    """Users, sweeps, runs (configs varied within their bounds), their results and tags, by COPY."""
    rng = random.Random(0)
    archs = architectures()
    runs, tags = io.StringIO(), io.StringIO()
    for run_id in range(1, plan.runs + 1):
        base, params, macs = archs[run_id % len(archs)]
        config = copy.deepcopy(base)
        config["lr"] = rng.choice([0.01, 0.05, 0.1, 0.2, 0.4, 0.8])
        config["batch_size"] = rng.choice([64, 128, 256, 512])
        config["optimizer"] = rng.choice(["sgd", "sgd", "adam", "adamw"])
        config["augment"]["cutout"] = rng.choice([0, 0, 4, 8, 12])
        config["augment"]["flip"] = config["augment"]["crop"] = rng.random() < 0.7
        config["seed"] = run_id % 5
        status = ("succeeded", "succeeded", "failed", "cancelled", "timed_out")[run_id % 5]
        test = round(rng.uniform(0.55, 0.93), 4)
        val = round(min(1.0, max(0.0, test + rng.uniform(-0.02, 0.02))), 4)
        created = f"2026-{1 + run_id % 11:02d}-{1 + run_id % 27:02d} {run_id % 24:02d}:00:00+00"
        sweep = 1 + run_id % SWEEPS if run_id % 10 == 0 else "\\N"
        name = f"{config['architecture']['name']} run {run_id}"
        runs.write("\t".join(map(str, [
            run_id, name, 1001 + run_id % OWNERS, status, json.dumps(config), config["architecture"]["name"],
            params, macs, config["seed"], config["epochs"], created, 1, "false", config["epochs"], 5000, "val",
            min(1.0, test + 0.01), 20, val, test, test, 0.3, 0.95, 0.9, test, 0.001, 600.0, sweep])) + "\n")
        for tag, share in TAGS.items():
            if rng.random() < share:
                tags.write(f"{run_id}\t{tag}\n")
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for i in range(OWNERS):
            cur.execute("INSERT INTO users (id, username, display_name, role, active, created_at) VALUES "
                        "(%s, %s, %s, 'member', true, now())", (1001 + i, f"user{i}", f"user{i}"))
        cur.execute("SELECT setval('users_id_seq', 2000)")
        for i in range(1, SWEEPS + 1):
            cur.execute("INSERT INTO sweeps (id, name, owner_id, base_config, grid, repeats, tags, created_at) "
                        "VALUES (%s, %s, 1001, '{}', '{}', 1, '[]', now())", (i, f"sweep {i}"))
        cur.execute("SELECT setval('sweeps_id_seq', %s)", (SWEEPS,))
        with cur.copy("COPY runs (id, name, owner_id, status, config, architecture, params, macs, seed, epochs, "
                      "created_at, attempt, cancel_requested, epochs_done, holdout, selected_on, best_test_acc, "
                      "best_epoch, best_val_acc, test_acc_at_best_val, final_test_acc, last_train_loss, "
                      "last_train_acc, last_test_loss, last_test_acc, last_lr, train_seconds, sweep_id) "
                      "FROM STDIN") as copy_in:
            copy_in.write(runs.getvalue())
        with cur.copy("COPY run_tags (run_id, tag) FROM STDIN") as copy_in:
            copy_in.write(tags.getvalue())
        cur.execute("SELECT setval('runs_id_seq', %s)", (plan.runs,))
        conn.commit()
        cur.execute("ANALYZE")


def percentiles(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(p50, p95) in milliseconds over ``repeat`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def api_counts(http: httpx.Client) -> dict[str, int]:
    out = {}
    for query in QUERIES:
        r = http.get("/api/runs", params={"q": query.q, "limit": 50})
        r.raise_for_status()
        out[query.name] = r.json()["count"]
    return out


def time_api(http: httpx.Client, repeat: int) -> dict[str, dict[str, float]]:
    out = {}
    for query in QUERIES:
        def ask(query: Query = query) -> None:
            http.get("/api/runs", params={"q": query.q, "limit": 50}).raise_for_status()

        p50, p95 = percentiles(ask, repeat)
        out[query.name] = {"p50_ms": p50, "p95_ms": p95}
    return out


NAIVE_READ = text("SELECT r.id, r.name, r.status, r.config, r.architecture, r.params, r.sweep_id, "
                  "r.test_acc_at_best_val AS test_acc, r.best_val_acc AS val_acc, r.created_at, u.username AS owner, "
                  "coalesce((SELECT json_agg(t.tag) FROM run_tags t WHERE t.run_id = r.id), '[]') AS tags "
                  "FROM runs r JOIN users u ON u.id = r.owner_id")


def time_naive(url: str, repeat: int) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Every run read and filtered in Python, newest first, the first 50 kept (what the API answers)."""
    engine = create_engine(url)
    out, counts = {}, {}
    with engine.connect() as conn:
        for query in QUERIES:
            def filtered(query: Query = query) -> list[dict[str, Any]]:
                rows = [dict(r._mapping) for r in conn.execute(NAIVE_READ)]
                hits = [r for r in rows if query.matches(r)]
                hits.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
                counts[query.name] = len(hits)
                return hits[:50]

            p50, p95 = percentiles(filtered, repeat)
            out[query.name] = {"p50_ms": p50, "p95_ms": p95}
    engine.dispose()
    return out, counts


def drop_new_indexes(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in NEW_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))  # our own constant names, never user text
        conn.execute(text("ANALYZE runs"))
    engine.dispose()


def measure(plan: Plan) -> dict[str, Any]:
    from backend.cli.migrate import upgrade

    with fresh_postgres_database() as url:
        var = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        upgrade(url)
        t = time.perf_counter()
        seed(url, plan)
        seeded_s = time.perf_counter() - t
        with backend_process(url, var) as http:
            counts = api_counts(http)
            indexed = time_api(http, plan.repeat)
            naive, naive_counts = time_naive(url, plan.naive_repeat)
            assert counts == naive_counts, f"the API and the naive filter disagree: {counts} != {naive_counts}"
            drop_new_indexes(url)
            bare = time_api(http, plan.repeat)
    queries: dict[str, Any] = {}
    for query in QUERIES:
        ours = indexed[query.name]
        queries[query.name] = {
            "q": query.q, "matches": counts[query.name], **ours,
            "no_new_indexes_p50_ms": bare[query.name]["p50_ms"], "no_new_indexes_p95_ms": bare[query.name]["p95_ms"],
            "naive_p50_ms": naive[query.name]["p50_ms"],
            "ratio_naive_over_query": naive[query.name]["p50_ms"] / ours["p50_ms"],
            "ratio_no_new_indexes_over_query": bare[query.name]["p50_ms"] / ours["p50_ms"],
        }
    return {"machine": machine(), "runs": plan.runs, "seed_seconds": round(seeded_s, 1), "repeat": plan.repeat,
            "queries": queries,
            "max_p50_ms": max(q["p50_ms"] for q in queries.values()),
            "max_p95_ms": max(q["p95_ms"] for q in queries.values())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs seeded (default 100,000; tiny 500)")
    parser.add_argument("--repeat", type=int, help="requests per query (default 25; tiny 5)")
    parser.add_argument("--tiny", action="store_true", help="500 runs, 5 requests per query (seconds)")
    parser.add_argument("--out", type=Path, help="results JSON (default benchmarks/results/query_latency.json; "
                                                 "tiny query_latency-tiny.json)")
    args = parser.parse_args(argv)
    runs = args.runs or (500 if args.tiny else 100_000)
    repeat = args.repeat or (5 if args.tiny else 25)
    if runs < 1 or repeat < 1:
        parser.error("--runs and --repeat are at least 1")
    plan = Plan(runs, repeat, naive_repeat=2 if args.tiny else 3)
    results = {"tiny": args.tiny, **measure(plan)}
    out = args.out or RESULTS / ("query_latency-tiny.json" if args.tiny else "query_latency.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"machine: {results['machine']}")
    print(f"runs: {results['runs']} (seeded in {results['seed_seconds']} s), {repeat} requests per query")
    for name, r in results["queries"].items():
        print(f"{name}: {r['q']!r} → {r['matches']} runs; p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms; "
              f"without 0011's indexes p50 {r['no_new_indexes_p50_ms']:.1f} ms; naive p50 {r['naive_p50_ms']:.1f} ms "
              f"(ratio_naive_over_query: {r['ratio_naive_over_query']:.1f})")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
