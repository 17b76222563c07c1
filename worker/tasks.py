"""The one task: a thin adapter from a broker message to worker.runner.execute."""

from __future__ import annotations

from backend.core.queue import EXPORT_TASK, TRAIN_TASK
from worker.celery_app import app
from worker.client import BackendClient
from worker.runner import execute, export_finished


@app.task(name=TRAIN_TASK, acks_late=True)
def train_run(run_id: int) -> str:
    return execute(run_id, BackendClient())


@app.task(name=EXPORT_TASK, acks_late=True)
def export_run(run_id: int) -> str:
    return export_finished(run_id, BackendClient())
