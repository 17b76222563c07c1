"""The webhook delivery loop: one asyncio task per backend process (started by backend.main's
lifespan) that POSTs due deliveries — woken by the WEBHOOKS notice, and looking every POLL_S for
retries that came due.

Several backend processes may run it side by side: a delivery is claimed by one guarded UPDATE
(``WHERE status = 'pending' AND attempts = <read> AND next_attempt_at <= now``) that also counts
the attempt and pushes ``next_attempt_at`` past the attempt's timeout, so exactly one process
sends each attempt, and an attempt whose process died is tried again after that pause.

Each attempt checks the URL again (the allowlist may have changed, DNS too), then POSTs the JSON
with httpx (``follow_redirects=False``: a redirect is a failed attempt, never followed), signed:
a host the allowlist matches by a pattern only is connected to at the addresses just vetted
(PinnedBackend: the URL keeps its name, for the Host header and TLS), never resolved again.
An attempt lasts at most WEBHOOK_TIMEOUT_S however slowly the receiver answers, reads at most
ANSWER_READ bytes of its answer, and runs in a task of its own: a slow receiver holds back no
other delivery.

    X-Cnnlab-Signature: sha256=<hex HMAC-SHA256 of "<X-Cnnlab-Timestamp>.<raw body>" with the secret>

A 2xx delivers it; anything else — another status, a redirect, a network error, a refused URL —
is retried after WEBHOOK_RETRY_BASE_S × 1, 6, 30, 180 (10 s, 1 min, 5 min, 30 min by default),
and after WEBHOOK_MAX_ATTEMPTS attempts the delivery is failed. Sending happens on the event loop
with httpx.AsyncClient (the checks and the database off it, in threads): no request waits on it.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpcore
import httpx
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from backend.core import events
from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.core.statuses import DeliveryStatus
from backend.core.tables import Webhook, WebhookDelivery, utcnow
from backend.notifications import hosts

log = logging.getLogger("cnnlab.webhooks")

RETRY_FACTORS = (1, 6, 30, 180)  # pauses after attempt 1, 2, 3, 4+, in WEBHOOK_RETRY_BASE_S
POLL_S = 1.0  # the loop looks for deliveries come due this often (and at once when told of one)
BATCH = 20  # deliveries claimed, and sent side by side, at once
ERROR_MAX = 500  # characters of an attempt's error kept
ANSWER_READ = 4096  # bytes of a receiver's answer read at most (an excerpt goes in a failed attempt's error)
ANSWER_SHOWN = 200  # characters of that answer kept in the error
USER_AGENT = "cnnlab-webhooks/1"
HEADERS = ("X-Cnnlab-Event", "X-Cnnlab-Delivery", "X-Cnnlab-Timestamp", "X-Cnnlab-Signature")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Cnnlab-Signature of a body: what a receiver computes again to trust it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def retry_delay(attempts_made: int) -> float:
    """Seconds before the next attempt, after ``attempts_made`` failed ones."""
    factor = RETRY_FACTORS[min(max(attempts_made, 1), len(RETRY_FACTORS)) - 1]
    return settings.WEBHOOK_RETRY_BASE_S * factor


def claim_timeout_s() -> float:
    """How long a claimed attempt holds its delivery: past it, another process may try again."""
    return 3 * settings.WEBHOOK_TIMEOUT_S + 30


@dataclass(frozen=True)
class Claimed:
    id: int
    attempt: int  # this attempt's number (1 for the first)
    event: str
    payload: dict[str, Any]
    url: str
    secret: str


def claim_due(limit: int = BATCH) -> list[Claimed]:
    """Due deliveries, each claimed by one guarded UPDATE (a row another process claimed first is
    skipped); a delivery left pending after its last attempt (its process died) is failed."""
    max_attempts = settings.WEBHOOK_MAX_ATTEMPTS
    claimed: list[Claimed] = []
    with SessionLocal() as session:  # reads only, unless something is due
        now = utcnow()
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.event, WebhookDelivery.payload,
                   Webhook.url, Webhook.secret)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)).all()
        session.rollback()
        hold = now + timedelta(seconds=claim_timeout_s())
        for row in rows:
            guard = (WebhookDelivery.id == row.id, WebhookDelivery.status == DeliveryStatus.PENDING,
                     WebhookDelivery.attempts == row.attempts, WebhookDelivery.next_attempt_at <= now)
            if row.attempts >= max_attempts:  # its process died during the last attempt
                session.execute(update(WebhookDelivery).where(*guard).values(
                    status=DeliveryStatus.FAILED, next_attempt_at=None,
                    last_error=f"no answer recorded for its last attempt (of {max_attempts})"))
                session.commit()
                continue
            result = session.execute(update(WebhookDelivery).where(*guard)
                                     .values(attempts=row.attempts + 1, next_attempt_at=hold))
            session.commit()
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(Claimed(row.id, row.attempts + 1, row.event, dict(row.payload or {}), row.url,
                                       row.secret))
    return claimed


def body_of(delivery: Claimed, timestamp: int) -> bytes:
    body = {"event": delivery.event, "delivery_id": delivery.id, "timestamp": timestamp, **delivery.payload}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- connecting only where the check said ------------------------------------------------------------

_TARGET: contextvars.ContextVar[hosts.Target | None] = contextvars.ContextVar("cnnlab_webhook_target", default=None)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but a connection made while an attempt's target holds vetted
    addresses (a host matched by a pattern) goes to those addresses, not to a fresh DNS answer
    (DNS rebinding); TLS still verifies the URL's name (httpcore passes it, not the address, as SNI).
    The target is the attempt's task's own (a context variable): httpcore connects in the task
    that sends the request."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        target = _TARGET.get()
        if target is None or not target.addresses:
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        if hosts.normal_host(host) != target.host:
            raise httpcore.ConnectError(f"refused: {host!r} is not the host checked ({target.host!r})")
        failure: Exception | None = None
        for address in target.addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # a target's addresses are never empty here
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never sent to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose network backend is a PinnedBackend (httpx
    takes no backend itself: its pool is replaced, made with the same settings)."""

    def __init__(self, limits: httpx.Limits, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            http1=True, http2=False, network_backend=PinnedBackend(inner))


# --- one attempt ----------------------------------------------------------------------------------------

async def _excerpt(response: httpx.Response) -> str:
    """The start of an answer's body: at most ANSWER_READ bytes read, ANSWER_SHOWN characters kept."""
    read = b""
    async for chunk in response.aiter_raw():
        read += chunk
        if len(read) >= ANSWER_READ:
            break
    return read[:ANSWER_READ].decode("utf-8", "replace").strip()[:ANSWER_SHOWN]


async def _post(client: httpx.AsyncClient, url: str, body: bytes,
                headers: dict[str, str]) -> tuple[int | None, str | None]:
    async with client.stream("POST", url, content=body, headers=headers) as response:
        code = response.status_code
        if 200 <= code < 300:
            return code, None  # its body is never read
        if response.is_redirect:
            where = response.headers.get("location", "")[:200]
            return code, f"answered {code}, a redirect to {where!r}: redirects are never followed"
        excerpt = await _excerpt(response)
        return code, f"answered {code}" + (f": {excerpt!r}" if excerpt else "")


async def attempt(client: httpx.AsyncClient, delivery: Claimed) -> tuple[int | None, str | None]:
    """One POST: (status code or None, None when delivered else why not)."""
    try:
        target = await run_in_threadpool(hosts.check_url, delivery.url)  # the allowlist and DNS, now
    except hosts.NotAllowed as exc:
        return None, f"not sent: the URL {exc}"
    timestamp = int(time.time())
    body = body_of(delivery, timestamp)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Cnnlab-Event": delivery.event, "X-Cnnlab-Delivery": str(delivery.id),
               "X-Cnnlab-Timestamp": str(timestamp), "X-Cnnlab-Signature": sign(delivery.secret, str(timestamp), body)}
    limit = settings.WEBHOOK_TIMEOUT_S
    token = _TARGET.set(target)  # this task's connections go where the check said
    try:
        code, error = await asyncio.wait_for(_post(client, delivery.url, body, headers), limit)
    except TimeoutError:
        return None, f"no whole answer within {limit:g} s (WEBHOOK_TIMEOUT_S)"
    except (httpx.HTTPError, httpx.StreamError) as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:ERROR_MAX] or exc.__class__.__name__
    finally:
        _TARGET.reset(token)
    return code, error[:ERROR_MAX] if error is not None else None


def record(delivery: Claimed, code: int | None, error: str | None) -> str:
    """The attempt's outcome, written only while this attempt still holds the delivery; its status."""
    now = utcnow()
    values: dict[str, object] = {"last_status_code": code, "last_error": error}
    if error is None:
        values.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif delivery.attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        values.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        values.update(next_attempt_at=now + timedelta(seconds=retry_delay(delivery.attempt)))
    with SessionLocal() as session:
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == DeliveryStatus.PENDING,
                               WebhookDelivery.attempts == delivery.attempt).values(**values))
        session.commit()
    return str(values.get("status", DeliveryStatus.PENDING))


async def send(client: httpx.AsyncClient, delivery: Claimed) -> None:
    try:
        code, error = await attempt(client, delivery)
        status = await run_in_threadpool(record, delivery, code, error)
    except Exception:  # noqa: BLE001 - a database outage: the claim runs out and it is tried again
        log.exception("webhook delivery %s, attempt %s: not recorded", delivery.id, delivery.attempt)
        return
    if error is not None:
        log.info("webhook delivery %s (%s), attempt %s: %s; now %s", delivery.id, delivery.event, delivery.attempt,
                 error, status)


async def deliver_due(client: httpx.AsyncClient, in_flight: set[asyncio.Task[None]]) -> int:
    """Claim what is due while fewer than BATCH attempts are in flight, each sent in a task of its
    own (added to ``in_flight`` until it ends): a slow receiver holds back only its own delivery.
    How many attempts were started."""
    made = 0
    while (free := BATCH - len(in_flight)) > 0:
        claimed = await run_in_threadpool(claim_due, free)
        for delivery in claimed:
            task = asyncio.create_task(send(client, delivery), name=f"webhook delivery {delivery.id}")
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        made += len(claimed)
        if len(claimed) < free:
            break
    return made


def new_client(inner: httpcore.AsyncNetworkBackend | None = None) -> httpx.AsyncClient:
    """Redirects never followed; the environment's proxies not used (the URL checked is the one
    reached); a pattern's host reached at its vetted addresses only (PinnedTransport)."""
    limits = httpx.Limits(max_connections=BATCH, max_keepalive_connections=0)
    return httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_S),
                             transport=PinnedTransport(limits, inner))


async def deliver_forever() -> None:
    in_flight: set[asyncio.Task[None]] = set()
    async with new_client() as client, events.board.watch([events.WEBHOOKS]) as watch:
        try:
            while True:
                watch.versions()  # a notice from now on wakes the wait below
                try:
                    await deliver_due(client, in_flight)
                except Exception:  # noqa: BLE001 - a database outage: try again at the next look
                    log.exception("webhook deliveries: a look failed")
                await watch.wait(POLL_S)
        finally:  # shutting down: an attempt cut short is tried again once its claim runs out
            for task in list(in_flight):
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
