"""Sending runs to the workers, by task name: the backend never imports the worker or torch."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Protocol, cast

from amqp.exceptions import ChannelError
from celery import Celery

from backend.core.settings import settings

TRAIN_TASK = "cnnlab.train_run"
log = logging.getLogger("cnnlab.queue")


class _DeclaringChannel(Protocol):
    """What every transport's channel offers (py-amqp's and kombu's virtual ones); kombu's stubs type
    ``Connection.default_channel`` as the bare ``StdChannel``, which lacks it. A passive, waiting
    declare answers (queue, message count, consumer count)."""

    def queue_declare(self, queue: str = ..., passive: bool = ...) -> tuple[str, int, int]: ...


def celery_config() -> dict[str, object]:
    """Shared by the backend's sender and the workers' app, so both agree on the broker."""
    return {
        "broker_url": settings.BROKER_URL,
        "task_default_queue": settings.QUEUE,
        "task_acks_late": True,  # a message is acknowledged only once its run is done
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a long task never holds other runs hostage
        "broker_connection_retry_on_startup": True,
        # redelivery of unacked messages is a backstop only: the backend's heartbeat reaper
        # requeues lost runs within seconds, and a worker skips a run that is no longer queued.
        # (kombu's SQLAlchemy transport hands these options to create_engine: Redis only.)
        "broker_transport_options": (
            {"visibility_timeout": 6 * 3600} if settings.BROKER_URL.startswith("redis") else {}
        ),
        "task_ignore_result": True,
        "worker_hijack_root_logger": False,
    }


@lru_cache(maxsize=1)
def sender() -> Celery:
    app = Celery("cnnlab-backend")
    app.conf.update(celery_config())
    return app


EXPORT_TASK = "cnnlab.export_run"


def enqueue_export(run_id: int) -> None:
    """Ask a worker to export a finished run's best weights (the backend does no torch work)."""
    sender().send_task(EXPORT_TASK, args=[run_id], queue=settings.QUEUE)


def enqueue(run_id: int) -> None:
    sender().send_task(TRAIN_TASK, args=[run_id], queue=settings.QUEUE)


def send_or_leave_to_reaper(run_id: int) -> None:
    """Send a run that is already recorded as queued. If the broker is down, the run stays queued
    and the reaper sends it once the broker answers again: the request still succeeds."""
    try:
        enqueue(run_id)
    except Exception:  # noqa: BLE001 - broker unreachable
        log.warning("broker unreachable; run %s stays queued and will be sent by the reaper", run_id)


def queued_message_count() -> int | None:
    """Messages waiting in the broker queue, or None when the broker cannot be asked."""
    try:
        with sender().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            try:
                channel = cast(_DeclaringChannel, conn.default_channel)
                _, count, _ = channel.queue_declare(queue=settings.QUEUE, passive=True)
            except ChannelError as exc:
                if str(getattr(exc, "reply_code", "")) == "404":
                    return 0  # Redis drops an empty list: no queue means no message
                raise
            return int(count)
    except Exception:  # noqa: BLE001 - an unreachable broker
        return None
