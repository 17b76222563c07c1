"""What live progress costs: the heartbeat's size and its time on the backend, with and without
the progress it now carries.

    python -m benchmarks.progress_cost

A real backend process on a fresh PostgreSQL database, a run claimed by hand; 400 heartbeats
with progress alternate with 400 without (the reference: what a heartbeat cost before). Prints
the request body sizes, the p50 of each, their ratio, and the rate (one heartbeat per
CNNLAB_HEARTBEAT_INTERVAL_S per running run). Writes benchmarks/results/progress_cost.json.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import backend_process, fresh_postgres_database, machine

RESULTS = Path(__file__).parent / "results"
BEATS = 400


def main() -> None:
    from backend.core.settings import settings

    with fresh_postgres_database() as url:
        var = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        with backend_process(url, var, CNNLAB_WORKER_TOKEN="bench-worker-credential") as http:
            run = http.post("/api/runs", json={"config": {"architecture": "compact", "epochs": 10}}).json()
            worker = {"Authorization": "Bearer bench-worker-credential"}
            claim = http.post(f"/api/worker/runs/{run['id']}/claim", json={"host": "b", "device": "cpu"},
                              headers=worker).json()
            headers = {**worker, "X-Run-Lease": claim["lease"]}
            bodies = {"with_progress": {"attempt": claim["attempt"], "progress": {
                          "epoch": 3, "batch": 117, "batches": 196, "images_per_s": 412.7}},
                      "reference_without": {"attempt": claim["attempt"]}}
            timed: dict[str, list[float]] = {k: [] for k in bodies}
            for _ in range(BEATS):
                for name, body in bodies.items():
                    t = time.perf_counter()
                    r = http.post(f"/api/worker/runs/{run['id']}/heartbeat", json=body, headers=headers)
                    timed[name].append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200 and r.json()["current"], r.text
            shown = http.get(f"/api/runs/{run['id']}").json()["progress"]
    p50 = {k: statistics.median(v) for k, v in timed.items()}
    results = {
        "machine": machine(),
        "heartbeats_each": BEATS,
        "body_bytes": {k: len(json.dumps(v, separators=(",", ":"))) for k, v in bodies.items()},
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "ratio_with_over_without": round(p50["with_progress"] / p50["reference_without"], 3),
        "heartbeats_per_s_per_running_run": round(1 / settings.HEARTBEAT_INTERVAL_S, 2),
        "progress_shown": shown,
    }
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "progress_cost.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
