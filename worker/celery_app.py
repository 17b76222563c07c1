"""The Celery app of the workers: `celery -A worker.celery_app worker`.

Same broker settings as the backend's sender (backend.core.queue.celery_config). Several worker
processes may share one GPU (`--concurrency N`): our models are tiny.
"""

from __future__ import annotations

from celery import Celery

from backend.core.queue import celery_config

app = Celery("cnnlab", include=["worker.tasks"])
app.conf.update(celery_config())
