"""The query-latency benchmark's tiny mode, as a command (tests do not import the benchmarks): 500
runs seeded on real PostgreSQL, the real backend process, five queries timed through GET /api/runs
against the naive reference and the same requests without migration 0011's indexes, measured in the
same run; the benchmark itself checks the API's count of each query against the naive filter."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT, port_open, require, require_redis

QUERIES = ("tag_and_status", "options_and_headline", "params_and_owner", "origin_option_negation", "text_or_results")


def test_tiny_query_latency_times_five_queries_against_their_references(tmp_path) -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    require_redis()  # the backend process's broker
    out = tmp_path / "query_latency.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.query_latency", "--tiny", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["tiny"] is True and result["machine"] and result["runs"] == 500
    assert tuple(result["queries"]) == QUERIES
    matched = 0
    for name, r in result["queries"].items():
        for key in ("p50_ms", "p95_ms", "no_new_indexes_p50_ms", "naive_p50_ms"):
            assert isinstance(r[key], float) and r[key] > 0, (name, key, r)
        assert r["p95_ms"] >= r["p50_ms"]
        assert r["ratio_naive_over_query"] == r["naive_p50_ms"] / r["p50_ms"]
        assert f"ratio_naive_over_query: {r['ratio_naive_over_query']:.1f}" in done.stdout
        matched += r["matches"] > 0
    assert matched == len(QUERIES), result["queries"]  # every query finds some of the seeded runs
