"""The one task: a thin adapter from a broker message to worker.runner.execute. The worker also
says it is up while it runs (worker.presence: a beat started on worker_ready)."""

from __future__ import annotations

from celery import Task
from celery.signals import worker_ready, worker_shutdown

from backend.core.queue import EXPORT_TASK, TRAIN_TASK
from worker import presence
from worker.celery_app import app
from worker.client import BackendClient
from worker.runner import execute, export_finished

worker_ready.connect(presence.on_worker_ready, weak=False)
worker_shutdown.connect(presence.on_worker_shutdown, weak=False)


@app.task(name=TRAIN_TASK, acks_late=True, bind=True)
def train_run(self: Task[[int], str], run_id: int) -> str:
    """The claim names this worker (its Celery hostname), so its row on the Workers page shows the run."""
    return execute(run_id, BackendClient(worker=presence.worker_name(self.request.hostname)))


@app.task(name=EXPORT_TASK, acks_late=True)
def export_run(run_id: int) -> str:
    return export_finished(run_id, BackendClient())
