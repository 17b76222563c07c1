"""The worker's side of the backend API, with retries: a backend or database outage only
delays a report, never loses it. Every call carries the worker credential; every call after a
claim carries that claim's lease (X-Run-Lease)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx

from backend.core.settings import settings
from backend.core.statuses import CheckpointKind
from backend.identity.worker_credential import worker_credential

log = logging.getLogger("cnnlab.worker.client")


MAX_REASON = 10_000  # the backend's limit on a stop reason


class Superseded(Exception):
    """The backend answered 409: this attempt no longer owns the run."""


class BackendClient:
    def __init__(self, base_url: str | None = None, retry_max_s: float | None = None, token: str | None = None,
                 worker: str | None = None) -> None:
        self.base_url = (base_url or settings.BACKEND_URL).rstrip("/")
        self.worker = worker  # this worker's name (worker.presence), sent with a claim
        self.retry_max_s = retry_max_s if retry_max_s is not None else settings.REPORT_RETRY_MAX_S
        self.http = httpx.Client(base_url=self.base_url, timeout=30.0,
                                 headers={"Authorization": f"Bearer {token or worker_credential()}"})

    def call(self, method: str, path: str, *, give_up_after: float | None = None, **kwargs: Any) -> httpx.Response:
        """Retry connection errors and 5xx with backoff; 409 → Superseded; other 4xx raise."""
        delay, started = 0.2, time.monotonic()
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
                if response.status_code == 409:
                    raise Superseded(response.text)
                if response.status_code < 500:
                    response.raise_for_status()
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if give_up_after is not None and time.monotonic() - started > give_up_after:
                raise TimeoutError(f"{method} {path}: backend unreachable for {give_up_after:.0f} s ({problem})")
            log.warning("%s %s failed (%s); retrying in %.1f s", method, path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)

    def claim(self, run_id: int, host: str, device: str) -> dict[str, Any] | None:
        try:
            claimed: dict[str, Any] = self.call(
                "POST", f"/api/worker/runs/{run_id}/claim",
                json={"host": host, "device": device, **({"worker": self.worker[:200]} if self.worker else {})},
            ).json()
            return claimed
        except Superseded:
            return None  # cancelled, already taken, or finished: a duplicate message

    def report_epochs(self, run_id: int, attempt: int, lease: str, metrics: list[dict[str, Any]]) -> None:
        self.call("POST", f"/api/worker/runs/{run_id}/epochs", json={"attempt": attempt, "metrics": metrics},
                  headers=leased(lease))

    def heartbeat(
        self, run_id: int, attempt: int, lease: str, progress: dict[str, Any] | None = None,
        system: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"attempt": attempt, "progress": progress, **({"system": system} if system else {})}
        answer: dict[str, Any] = self.call(
            "POST", f"/api/worker/runs/{run_id}/heartbeat", json=body,
            headers=leased(lease), give_up_after=5.0,
        ).json()
        return answer

    def upload_checkpoint(self, run_id: int, attempt: int, lease: str, kind: CheckpointKind, epoch: int,
                          data: bytes) -> None:
        self.call("PUT", f"/api/worker/runs/{run_id}/checkpoints/{kind}", params={"attempt": attempt, "epoch": epoch},
                  content=data, headers={"Content-Type": "application/octet-stream", **leased(lease)})

    def download_checkpoint(self, run_id: int, lease: str, kind: CheckpointKind, dest: Path) -> bool:
        try:
            response = self.call("GET", f"/api/worker/runs/{run_id}/checkpoints/{kind}", headers=leased(lease))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return False
            raise
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(response.content)
        return True

    def report_evaluation(self, run_id: int, attempt: int, lease: str, report: dict[str, Any]) -> None:
        self.call("PUT", f"/api/worker/runs/{run_id}/evaluation", json={"attempt": attempt, "report": report},
                  headers=leased(lease))

    def claim_export(self, run_id: int) -> dict[str, Any] | None:
        """An export asked for after the run ended, or None when there is none waiting (409)."""
        try:
            return dict(self.call("POST", f"/api/worker/runs/{run_id}/export/claim").json())
        except Superseded:  # 409: nothing waiting (done, or taken by a later claim)
            return None

    def upload_model(self, run_id: int, lease: str, epoch: int, data: bytes) -> None:
        self.call("PUT", f"/api/worker/runs/{run_id}/model", params={"epoch": epoch}, content=data,
                  headers={"Content-Type": "application/octet-stream", **leased(lease)})

    def model_failure(self, run_id: int, lease: str, reason: str) -> None:
        self.call("POST", f"/api/worker/runs/{run_id}/model/failure", json={"reason": reason[:1000]},
                  headers=leased(lease))

    def finish(self, run_id: int, attempt: int, lease: str, status: str, reason: str | None,
               elapsed_s: float | None) -> None:
        self.call("POST", f"/api/worker/runs/{run_id}/finish",
                  json={"attempt": attempt, "status": status, "reason": reason[:MAX_REASON] if reason else reason,
                        "elapsed_s": elapsed_s}, headers=leased(lease))


def leased(lease: str) -> dict[str, str]:
    return {"X-Run-Lease": lease}
