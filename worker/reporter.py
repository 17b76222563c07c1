"""Reports a training run to the backend without ever slowing or losing it.

Epochs and checkpoints go into an outbox that one thread sends in order, retrying while the
backend or its database is down; training carries on meanwhile. A second thread heartbeats and
brings back cancel requests. ``should_stop`` (checked every batch) only reads a flag.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from backend.core.settings import settings
from backend.core.statuses import CheckpointKind, StopReason
from backend.runs.protocol import MAX_SAMPLES_PER_HEARTBEAT
from worker import checkpoint
from worker.client import BackendClient, Superseded
from worker.trainer import EpochMetrics

log = logging.getLogger("cnnlab.worker.reporter")
SUPERSEDED = StopReason.SUPERSEDED


class Reporter:
    def __init__(self, client: BackendClient, run_id: int, attempt: int, lease: str) -> None:
        self.client, self.run_id, self.attempt, self.lease = client, run_id, attempt, lease
        self.outbox: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.stop_reason: str | None = None
        self.last_progress = time.monotonic()  # the trainer asks should_stop before every batch
        self.progress: dict[str, Any] | None = None  # the latest batch's place in its epoch, sent with each heartbeat
        # system samples (worker.system_metrics) waiting for the next heartbeat; the oldest are dropped
        # first while the backend is away
        self.samples: deque[dict[str, Any]] = deque(maxlen=4 * MAX_SAMPLES_PER_HEARTBEAT)
        self._done = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name=f"report-{run_id}", daemon=True)
        self._beater = threading.Thread(target=self._beat_loop, name=f"heartbeat-{run_id}", daemon=True)

    def start(self) -> Reporter:
        self._sender.start()
        self._beater.start()
        return self

    # --- hooks given to the trainer -----------------------------------------------------------
    def should_stop(self) -> str | None:
        self.last_progress = time.monotonic()
        return self.stop_reason

    def batch(self, epoch: int, done: int, total: int, images: int, epoch_seconds: float) -> None:
        self.progress = {"epoch": epoch, "batch": done, "batches": total,
                         "images_per_s": images / epoch_seconds if epoch_seconds > 0 else 0.0}

    def system_sample(self, sample: dict[str, Any]) -> None:
        """The sampler's sink: sent with the next heartbeat."""
        self.samples.append(sample)

    def images_per_s(self) -> float | None:
        """The trainer's speed in its current epoch, for the sampler."""
        progress = self.progress
        return float(progress["images_per_s"]) if progress else None

    def epoch(self, metrics: EpochMetrics) -> None:
        payload = [asdict(metrics)]
        self.outbox.put(lambda: self.client.report_epochs(self.run_id, self.attempt, self.lease, payload))

    def checkpoint(self, folder: Path, epoch: int, best_too: bool) -> None:
        # read now: the file will be overwritten by the next epoch before the upload may run
        files = [(checkpoint.LAST, CheckpointKind.LAST)]
        if best_too:
            files.append((checkpoint.BEST, CheckpointKind.BEST))
        for name, kind in files:
            data = (folder / name).read_bytes()

            def upload(k: CheckpointKind = kind, d: bytes = data) -> None:
                self.client.upload_checkpoint(self.run_id, self.attempt, self.lease, k, epoch, d)

            self.outbox.put(upload)

    def evaluation(self, report: dict[str, Any]) -> None:
        self.outbox.put(lambda: self.client.report_evaluation(self.run_id, self.attempt, self.lease, report))

    def model(self, data: bytes, epoch: int) -> None:
        """The exported classifier (worker.export), before the final status."""
        self.outbox.put(lambda: self.client.upload_model(self.run_id, self.lease, epoch, data))

    def model_failure(self, reason: str) -> None:
        self.outbox.put(lambda: self.client.model_failure(self.run_id, self.lease, reason))

    # --- the end ------------------------------------------------------------------------------
    def finish(self, status: str, reason: str | None, elapsed_s: float | None) -> None:
        """Send everything still in the outbox (the last system samples too), then the final status."""
        self.outbox.put(self._send_last_samples)
        self.outbox.put(lambda: self.client.finish(self.run_id, self.attempt, self.lease, status, reason, elapsed_s))
        self.close()

    def close(self) -> None:
        self.outbox.put(None)
        self._sender.join()
        self._done.set()
        self._beater.join(timeout=10)

    def _send_loop(self) -> None:
        while True:
            item = self.outbox.get()
            if item is None:
                return
            if self.stop_reason == SUPERSEDED:
                continue  # another attempt owns the run now: drop what this one had
            try:
                item()  # retries by itself until the backend answers
            except Superseded:
                self.stop_reason = SUPERSEDED
            except Exception:  # noqa: BLE001 - a 4xx bug must not kill the run's reporting
                log.exception("report for run %s dropped", self.run_id)

    def _beat_loop(self) -> None:
        while not self._done.wait(settings.HEARTBEAT_INTERVAL_S):
            if time.monotonic() - self.last_progress > settings.STALL_TIMEOUT_S:
                log.error("run %s: training has not moved for %.0f s; no more heartbeats, the backend will "
                          "requeue it", self.run_id, time.monotonic() - self.last_progress)
                continue  # a hung trainer must not keep its run "running" forever
            try:
                answer = self._beat()
            except Superseded:
                self.stop_reason = SUPERSEDED
                continue
            except Exception as exc:  # noqa: BLE001 - backend briefly away: beat again later
                log.warning("heartbeat for run %s failed: %s", self.run_id, exc)
                continue
            if not answer["current"]:
                self.stop_reason = SUPERSEDED
            elif answer["cancel_requested"] and self.stop_reason is None:
                self.stop_reason = StopReason.CANCELLED
            elif answer.get("prune_requested") and self.stop_reason is None:
                self.stop_reason = StopReason.PRUNED

    def _beat(self) -> dict[str, Any]:
        """One heartbeat, with up to MAX_SAMPLES_PER_HEARTBEAT system samples; samples a failed beat
        carried wait for the next. A refusal of the samples (4xx) never costs the run its heartbeat:
        they are dropped and the beat sent again without them."""
        batch = [self.samples.popleft() for _ in range(min(len(self.samples), MAX_SAMPLES_PER_HEARTBEAT))]
        if not batch:
            return self.client.heartbeat(self.run_id, self.attempt, self.lease, self.progress)
        try:
            return self.client.heartbeat(self.run_id, self.attempt, self.lease, self.progress, system=batch)
        except httpx.HTTPStatusError as exc:
            log.error("run %s: %d system samples refused (%s); dropped", self.run_id, len(batch), exc)
            return self.client.heartbeat(self.run_id, self.attempt, self.lease, self.progress)
        except Superseded:
            raise
        except Exception:
            self.samples.extendleft(reversed(batch))  # the backend is away: sent with a later beat
            raise

    def _send_last_samples(self) -> None:
        """The samples taken since the last heartbeat, before the final status (in the outbox's order)."""
        while self.samples and self.stop_reason != SUPERSEDED:
            try:
                self._beat()
            except Superseded:
                raise
            except Exception as exc:  # noqa: BLE001 - the last few samples are not worth delaying the end
                log.warning("run %s: last system samples not sent: %s", self.run_id, exc)
                return
