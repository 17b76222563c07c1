"""The one task: a thin adapter from a broker message to worker.runner.execute."""

from __future__ import annotations

from backend.queue import TRAIN_TASK
from worker.celery_app import app
from worker.client import BackendClient
from worker.runner import execute


@app.task(name=TRAIN_TASK, acks_late=True)
def train_run(run_id: int) -> str:
    return execute(run_id, BackendClient())
