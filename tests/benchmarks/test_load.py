"""The load benchmark's tiny mode, as a command: a tenth of the lab's load for a minute on real
PostgreSQL, Redis and backend process, with no error and every acknowledged epoch stored once."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.utils.services import ROOT, port_open, require, require_redis


def require_lab_services() -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    require_redis()


def test_a_tenth_of_a_labs_load_for_a_minute_loses_nothing(tmp_path) -> None:
    require_lab_services()
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.load", "--tiny", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())["results"]["1"]
    assert result["errors"] == 0, (result["locust_tail"], done.stdout[-3000:])
    assert result["epochs_acknowledged"] == result["epochs_stored"] > 0
    assert result["runs_with_different_epochs"] == []
    assert result["stream_events_received"] > 0
    assert {"GET /api/runs/events", "GET /api/runs/[id]/events", "POST /api/worker/runs/[id]/epochs",
            "POST /api/runs/[id]/predict", "GET /api/compare"} <= set(result["routes"])
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_notifier_benchmark_measures_both_transports(tmp_path) -> None:
    require_lab_services()
    out = tmp_path / "notifier.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.notifier", "--tiny", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    for kind in ("redis", "postgres"):
        result = report["results"][kind]
        assert result["notices"] == 60 and result["lost"] == 0
        assert result["delivery_ms"]["p50"] > 0 and result["publish_ms"]["p50"] > 0
    assert report["redis_vs_postgres_delivery_ms_p50"] > 0
