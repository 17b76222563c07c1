"""The worker says it is up: at its start, then every CNNLAB_WORKER_PRESENCE_S, idle or training
(POST /api/worker/presence; the backend shows it on the Workers page and counts it in the queue's
ETAs).

A daemon thread, started when the Celery worker is ready (``worker_ready``) and stopped with it
(``worker_shutdown``, or the process's end). One try per beat, with a short timeout and no retry:
a backend that does not answer only makes the worker look down for a while, and never delays or
fails a run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import httpx

from backend.core.settings import settings
from backend.identity.worker_credential import worker_credential
from worker.device import device_label

log = logging.getLogger("cnnlab.worker.presence")

TIMEOUT_S = 5.0  # one beat's HTTP call at most


def worker_name(hostname: str | None = None) -> str:
    """The Celery hostname (``slot@host``, as worker.serve names each slot), else host:device:pid."""
    return hostname or f"{socket.gethostname()}:{device_label('auto')}:{os.getpid()}"


class Beat:
    """Says the worker ``name`` is up every ``interval_s`` until stopped."""

    def __init__(self, name: str, interval_s: float | None = None, base_url: str | None = None) -> None:
        self.name = name
        self.interval_s = interval_s if interval_s is not None else settings.WORKER_PRESENCE_S
        self.base_url = (base_url or settings.BACKEND_URL).rstrip("/")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnnlab-presence", daemon=True)
        self.tries, self.sent = 0, 0  # beats tried, and taken by the backend

    def start(self) -> Beat:
        self._thread.start()
        return self

    def stop(self, wait_s: float | None = None) -> None:
        self._stop.set()
        if wait_s is not None:
            self._thread.join(wait_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        body: dict[str, Any] = {"name": self.name[:200], "host": socket.gethostname()[:200],
                                "device": device_label("auto")[:64], "first": True}
        with httpx.Client(base_url=self.base_url, timeout=TIMEOUT_S) as http:
            while not self._stop.is_set():
                self.tries += 1
                try:
                    response = http.post("/api/worker/presence", json=body,
                                         headers={"Authorization": f"Bearer {worker_credential()}"})
                    if response.status_code == 204:
                        self.sent += 1
                        body["first"] = False
                    else:
                        log.warning("presence refused: HTTP %s %s", response.status_code, response.text[:200])
                except Exception as exc:  # noqa: BLE001 - the backend away, or anything else: never the worker's end
                    log.debug("presence not told (%s: %s)", type(exc).__name__, exc)
                self._stop.wait(self.interval_s)


_beat: Beat | None = None


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Celery's worker_ready: the beat starts (its sender, the worker's consumer, names the worker)."""
    global _beat
    if _beat is None:
        _beat = Beat(worker_name(getattr(sender, "hostname", None))).start()


def on_worker_shutdown(**_: Any) -> None:
    if _beat is not None:
        _beat.stop()
