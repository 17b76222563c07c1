"""Following a run's Server-Sent Events (GET /api/runs/{id}/events) and printing the seed's lines."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, TextIO

import httpx

from cnnlab_client.api import ApiError, Client, error_from

# --- the seed's line, as frontend/static/js/common.js's seedLine writes it -------------------------
# the same rules as backend/core/formats.py (the trainer's lines), copied: this client imports
# nothing of the backend; tests/client/ holds the two copies to each other and to common.js


def js_round(value: float) -> int:
    """JavaScript's Math.round: the nearest integer, halves toward +infinity (Python's round() goes
    to the even neighbour)."""
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole  # value - whole is exact for every float


def percent(fraction: float) -> int:
    """A fraction as the dashboard's whole percentage: ``Math.round(fraction * 100)``."""
    return js_round(fraction * 100)


def to_fixed(value: float, digits: int) -> str:
    """JavaScript's Number.toFixed: the exact binary value, ties away from zero (``NaN``,
    ``Infinity`` and numbers from 1e21 on as JavaScript writes them)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if abs(value) >= 1e21:
        return repr(value)  # JavaScript's String(value): the same shortest digits, "1e+21"
    exact = Decimal(value + 0.0)  # + 0.0: -0 is written 0
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=Context(prec=digits + 30)))


def seed_line(m: dict[str, Any]) -> str:
    """`[epoch 117] train accuracy: 91% test accuracy: 85% loss: 0.265 duration: 27.22`, with
    `val accuracy: 84%` after the test's when the run holds out validation images."""
    val = f"val accuracy: {percent(m['val_acc'])}% " if m.get("val_acc") is not None else ""
    return (f"[epoch {m['epoch']}] train accuracy: {percent(m['train_acc'])}% "
            f"test accuracy: {percent(m['test_acc'])}% {val}loss: {to_fixed(m['train_loss'], 3)} "
            f"duration: {to_fixed(m['seconds'], 2)}")


def best_text(run: dict[str, Any]) -> str | None:
    """`test accuracy 85.3% at epoch 117, chosen on validation (84.1%)`: the headline, and what chose it."""
    headline = run.get("test_acc_at_best_val", run.get("best_test_acc"))
    if headline is None:
        return None
    at = f" at epoch {run['best_epoch']}" if run.get("best_epoch") is not None else ""
    if run.get("selected_on") == "val" and run.get("best_val_acc") is not None:
        return f"test accuracy {headline:.1%}{at}, chosen on validation ({run['best_val_acc']:.1%})"
    return f"test accuracy {headline:.1%}{at}, chosen on test"


def final_line(run: dict[str, Any]) -> str:
    """`run 7 succeeded: best test accuracy 85.3% at epoch 117`; other endings lead with their reason."""
    best, reason = best_text(run), (run.get("reason") or "").strip()
    if run["status"] == "succeeded" or not reason:
        detail = best or "no epoch recorded"
    else:
        detail = reason + (f" ({best})" if best else "")
    return f"run {run['id']} {run['status']}: {detail}"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st."""
    teen = 11 <= n % 100 <= 13
    return f"{n}{'th' if teen else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def in_about(seconds: float) -> str:
    """`now`, `in under a minute`, `in about 12 min`, `in about 2.5 h`."""
    if seconds < 30:
        return "now"
    if seconds < 60:
        return "in under a minute"
    if seconds < 5400:
        return f"in about {js_round(seconds / 60)} min"
    return f"in about {to_fixed(seconds / 3600, 1)} h"


def queue_text(place: dict[str, Any]) -> str:
    """A queued run's place (the run's ``queue``) in the words of the run page (common.js queueText):
    `2nd in line, starts in about 4 min (1 worker up)`."""
    up = place["workers_up"]
    workers = f"{up} worker{'' if up == 1 else 's'} up"
    start = place.get("eta_start_s")
    when = f"waiting for a worker ({workers})" if start is None else f"starts {in_about(start)} ({workers})"
    return f"{ordinal(place['position'])} in line, {when}"


def status_line(run: dict[str, Any]) -> str:
    """`status: running`, with what else a watcher wants to know about a live run; a queued run's
    place and ETA where the server says them: `queued: 2nd in line, starts in about 4 min (1 worker up)`."""
    line = f"status: {run['status']}"
    if run["status"] == "queued" and run.get("queue"):
        line = f"queued: {queue_text(run['queue'])}"
    if run["status"] == "running" and run.get("cancel_requested"):
        line += ", cancel requested"
    elif run["status"] == "queued" and run.get("reason"):
        line += f" ({run['reason']})"  # requeued: its worker was lost
    return line


# --- Server-Sent Events --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    event: str
    data: str


class SSEParser:
    """The event-stream format (HTML's "server-sent events"): remembers the last event id and the retry delay."""

    def __init__(self, last_id: str | None = None) -> None:
        self.last_id = last_id
        self.retry_ms: int | None = None

    def events(self, lines: Iterable[str]) -> Iterator[Event]:
        kind, pending_id = "", self.last_id
        data: list[str] = []
        for line in lines:
            if not line:
                self.last_id = pending_id
                if data:
                    yield Event(kind or "message", "\n".join(data))
                kind, data = "", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "id" and "\0" not in value:
                pending_id = value
            elif field == "retry" and value.isdigit():
                self.retry_ms = int(value)


# --- following a run ----------------------------------------------------------------------------


class WatchError(Exception):
    """The event stream could not be (re)opened within the retries."""


class Deleted(Exception):
    """The run was deleted while being watched."""


class Watcher:
    """Prints a run's epochs and status changes until it finishes; reconnects with Last-Event-ID.

    ``max_retries`` bounds the reconnections in a row that bring no event; a connection that
    brings one resets the count. A stream silent for ``idle_timeout_s`` (a long-queued run) is
    reopened quietly: the server sends the run's status again on every connection.
    """

    def __init__(self, client: Client, run_id: int, out: TextIO | None = None, err: TextIO | None = None,
                 max_retries: int = 10, idle_timeout_s: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.run_id = client, run_id
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.max_retries, self.idle_timeout_s, self.sleep = max_retries, idle_timeout_s, sleep
        self.parser = SSEParser()
        self.last_epoch = 0
        self.last_status: str | None = None
        self.connected = False  # once the stream has opened, drops are retried; a first refusal is not
        self.finished: frozenset[str] = frozenset()  # the server's final statuses, asked when following starts

    def follow(self) -> dict[str, Any]:
        """The run as it finished (its JSON); raises Deleted, ApiError (4xx) or WatchError."""
        self.finished = self.client.finished_statuses()
        failures = 0
        while True:
            received = False
            try:
                for received_one, finished in self._stream():
                    received = received or received_one
                    if finished is not None:
                        return finished
                error: Exception | None = None  # the server closed the stream before the run finished
            except ApiError as exc:
                if exc.status < 500:
                    raise
                error = exc
            except httpx.TransportError as exc:
                if not self.connected:
                    raise
                error = exc
            failures = 1 if received else failures + 1
            if failures > self.max_retries:
                raise WatchError(f"lost the event stream of run {self.run_id} after {self.max_retries} "
                                 f"reconnections: {describe(error) if error else 'the server kept closing it'}")
            delay = min((self.parser.retry_ms or 1000) / 1000 * failures, 10.0)
            if not isinstance(error, httpx.ReadTimeout):
                print(f"connection lost ({describe(error) if error else 'stream closed'}); reconnecting in "
                      f"{delay:g} s (try {failures} of {self.max_retries})", file=self.err, flush=True)
            self.sleep(delay)

    def _stream(self) -> Iterator[tuple[bool, dict[str, Any] | None]]:
        """(an event came, the finished run or None) per event of one connection."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.parser.last_id is not None:
            headers["Last-Event-ID"] = self.parser.last_id
        timeout = httpx.Timeout(30.0, read=self.idle_timeout_s)
        with self.client.http.stream("GET", f"/api/runs/{self.run_id}/events", headers=headers,
                                     timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise error_from(response)
            self.connected = True
            for event in self.parser.events(response.iter_lines()):
                yield True, self._handle(event)

    def _handle(self, event: Event) -> dict[str, Any] | None:
        if event.event == "metric":
            metric: dict[str, Any] = json.loads(event.data)
            if metric["epoch"] > self.last_epoch:
                self.last_epoch = metric["epoch"]
                print(seed_line(metric), file=self.out, flush=True)
        elif event.event == "status":
            run: dict[str, Any] = json.loads(event.data)
            if run["status"] in self.finished:
                print(final_line(run), file=self.out, flush=True)
                return run
            line = status_line(run)
            if line != self.last_status:
                self.last_status = line
                print(line, file=self.out, flush=True)
        elif event.event == "deleted":
            raise Deleted(f"run {self.run_id} was deleted")
        return None


def describe(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
