"""Finds runs whose worker died and queued runs whose broker message was lost, and sends them again.

* a running run with no heartbeat for HEARTBEAT_TIMEOUT_S → queued again (attempt + 1); the next
  worker downloads its last checkpoint and resumes, so no recorded epoch is lost;
* every running search moves on (backend.searches.engine.advance): a restarted backend carries
  its searches on;
* fewer messages in the broker queue than runs waiting there (a broker restarted without
  persistence) → every waiting run is sent again; a worker skips a duplicate, since only a
  queued run can be claimed.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from backend.core import events, queue
from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.runs import service as run_service
from backend.searches import engine as searches

log = logging.getLogger("cnnlab.reaper")


def sweep_once(look_for_lost: bool = True) -> dict[str, list[int]]:
    requeued, resent = [], []
    with SessionLocal() as session:
        lost = run_service.lost_runs(session, settings.HEARTBEAT_TIMEOUT_S) if look_for_lost else []
        for run in lost:
            if run_service.requeue_lost(session, run, settings.MAX_ATTEMPTS):
                queue.enqueue(run.id)
                requeued.append(run.id)
            events.changed(run.id)
        waiting = run_service.waiting_runs(session, settings.REQUEUE_GRACE_S)
    if waiting:
        in_broker = queue.queued_message_count()
        if in_broker is not None and in_broker < len(waiting):
            for run_id in waiting:
                queue.enqueue(run_id)
            resent = list(waiting)
    if requeued or resent:
        log.warning("requeued lost runs %s; re-sent waiting runs %s", requeued, resent)
    searches.advance_all()  # trials whose runs ended anywhere are told; missing ones asked for
    return {"requeued": requeued, "resent": resent}


async def reap_forever() -> None:
    """Tick every REAPER_INTERVAL_S. Heartbeats cannot arrive while this backend or its database
    is down, so lost runs are only looked for once things have been up for a heartbeat timeout."""
    loop = asyncio.get_running_loop()
    healthy_since = loop.time()
    while True:
        await asyncio.sleep(settings.REAPER_INTERVAL_S)
        look_for_lost = loop.time() - healthy_since >= settings.HEARTBEAT_TIMEOUT_S
        try:
            await run_in_threadpool(sweep_once, look_for_lost)
        except Exception:  # noqa: BLE001 - a database or broker outage: try again next tick
            log.exception("reaper tick failed")
            healthy_since = loop.time()
