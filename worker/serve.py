"""`python -m worker.serve` — a Celery worker on CNNLAB_QUEUE (one command everywhere).

CNNLAB_WORKER_POOL (solo | prefork) and CNNLAB_WORKER_PROCESSES choose how many runs this
machine trains at once; several may share one GPU, our models are tiny.
"""

from __future__ import annotations

import os

from backend.settings import settings
from worker.celery_app import app


def argv() -> list[str]:
    pool = os.environ.get("CNNLAB_WORKER_POOL", "solo")
    processes = os.environ.get("CNNLAB_WORKER_PROCESSES", "1")
    args = ["worker", f"--pool={pool}", "--loglevel=INFO", "-Q", settings.QUEUE, "--without-gossip",
            "--without-mingle", "--without-heartbeat"]
    if pool != "solo":
        args.append(f"--concurrency={processes}")
    return args


if __name__ == "__main__":
    app.worker_main(argv())
