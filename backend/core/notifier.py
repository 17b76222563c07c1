"""The notifier: carries change notices (``backend.core.events``) between the lab's backend processes.

One listener per backend process, however many streams it serves:

- ``redis``: PUBLISH on one channel, one SUBSCRIBE per process (the lab's broker is Redis already);
- ``postgres``: ``pg_notify`` and one LISTEN connection per process, outside the pool;
- ``local``: one backend process (the embedded lab): nothing to carry.

CNNLAB_NOTIFIER picks one; by default Redis where the broker is Redis, else PostgreSQL where the
database is, else local (benchmarks/notifier.py measured both: RESULTS.md, "Notifier").
A process ignores its own notices (it bumped its board when it published them). When the listener
loses its connection it retries with a growing pause and, each time, tells every stream of its
process to re-read once (``events.everything_changed``), so a notice missed meanwhile is never a
stale page; a failed publish is logged and costs the other processes nothing but that delay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from typing import Any

from backend.core import events
from backend.core.errors import StartupRefused
from backend.core.settings import settings

log = logging.getLogger("cnnlab.notifier")

PROCESS = uuid.uuid4().hex  # this backend process, in its notices
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # the listener's pauses before reconnecting
SILENCE_S = 30.0  # after this long without a notice the listener asks whether its server is still there
PING_TIMEOUT_S = 10.0
PUBLISH_PAUSE_S = 5.0  # after a failed publish, publishing is skipped this long (no request waits on a dead server)


def kind_for(broker_url: str, database_url: str, chosen: str = "") -> str:
    if chosen:
        if chosen not in ("redis", "postgres", "local"):
            raise ValueError(f"CNNLAB_NOTIFIER must be redis, postgres or local, got {chosen!r}")
        return chosen
    if broker_url.startswith(("redis://", "rediss://")):
        return "redis"
    if database_url.startswith("postgresql"):
        return "postgres"
    return "local"


def _payload(topics: list[str]) -> str:
    return json.dumps({"p": PROCESS, "t": topics}, separators=(",", ":"))


def _topics_of(raw: str | bytes, own: bool = False) -> list[str] | None:
    """The topics of a notice from another process (None: our own, or not ours to read)."""
    try:
        body = json.loads(raw)
        topics = body["t"]
        if (body["p"] == PROCESS and not own) or not isinstance(topics, list):
            return None
        return [str(t) for t in topics][:64]
    except (ValueError, KeyError, TypeError):
        log.warning("a change notice that is not ours was ignored")
        return None


class Notifier:
    """Local: a single backend process has nothing to tell."""

    kind = "local"

    def __init__(self) -> None:
        self.connected = True
        self.received = 0  # notices from other processes (tests and the load test read it)
        self._failed_at = -PUBLISH_PAUSE_S

    def publish(self, topics: list[str]) -> None:
        if time.monotonic() - self._failed_at < PUBLISH_PAUSE_S:
            return
        try:
            self._publish(_payload(topics))
        except Exception:
            self._failed_at = time.monotonic()
            raise

    def _publish(self, payload: str) -> None:
        """Send one notice to every process."""

    async def listen(self, board: events.Board, own: bool = False) -> None:
        """Forever: bump ``board`` with every notice of another process (``own``: ours too)."""
        delay = 0
        while True:
            try:
                await self._listen(board, own)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a server that went away: reconnect
                log.warning("change notices: %s lost (%s); reconnecting", self.kind, exc.__class__.__name__)
            self.connected = False
            await asyncio.sleep(RETRY_S[min(delay, len(RETRY_S) - 1)])
            delay += 1
            board.bump([], everything=True)  # while it is down, every stream re-reads at each retry

    async def _listen(self, board: events.Board, own: bool) -> None:
        await asyncio.Event().wait()

    def _heard(self, board: events.Board, raw: str | bytes, own: bool) -> None:
        topics = _topics_of(raw, own)
        if topics is not None:
            self.received += 1
            board.bump(topics)

    def _up(self, board: events.Board) -> None:
        self.connected = True
        board.bump([], everything=True)  # what was missed while it connected is re-read once


class RedisNotifier(Notifier):
    kind = "redis"

    def __init__(self, url: str, channel: str) -> None:
        import redis

        super().__init__()
        self.url, self.channel = url, channel
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)

    def _publish(self, payload: str) -> None:
        self._client.publish(self.channel, payload)

    async def _listen(self, board: events.Board, own: bool) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2)
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(self.channel)
                self._up(board)
                while True:
                    message = await pubsub.get_message(timeout=SILENCE_S)
                    if message is None:  # a silent channel or a dead server: this tells which
                        await asyncio.wait_for(client.ping(), PING_TIMEOUT_S)
                    elif message.get("type") == "message":
                        self._heard(board, message["data"], own)
        finally:
            await client.aclose()


class PostgresNotifier(Notifier):
    kind = "postgres"
    CHANNEL = "cnnlab_events"

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        super().__init__()
        self.conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None
        self._lock = threading.Lock()

    def _publish(self, payload: str) -> None:
        import psycopg

        with self._lock:  # one connection of its own, outside the pool: a notice never waits for a request's
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=2)
                self._conn.execute("SELECT pg_notify(%s, %s)", (self.CHANNEL, payload))
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise

    async def _listen(self, board: events.Board, own: bool) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=2)
        try:
            await conn.execute(f"LISTEN {self.CHANNEL}")
            self._up(board)
            while True:
                async for notice in conn.notifies(timeout=SILENCE_S):
                    self._heard(board, notice.payload, own)
                # a silent channel or a dead server (no RST after a failover): this tells which
                await asyncio.wait_for(conn.execute("SELECT 1"), PING_TIMEOUT_S)
        finally:
            await conn.close()


def check_processes() -> None:
    """Several backend processes need a notifier that crosses processes (their pages would
    otherwise never see the others' changes): refused at startup, with what to set."""
    kind = kind_for(settings.BROKER_URL, settings.DATABASE_URL, settings.NOTIFIER)
    if settings.BACKEND_PROCESSES > 1 and kind == "local":
        raise StartupRefused(f"CNNLAB_BACKEND_PROCESSES={settings.BACKEND_PROCESSES} needs changes carried between "
                             "the processes: use a Redis broker (CNNLAB_BROKER_URL=redis://…) or PostgreSQL "
                             "(CNNLAB_DATABASE_URL=postgresql+psycopg://…), or set CNNLAB_NOTIFIER")


def for_lab() -> Notifier:
    kind = kind_for(settings.BROKER_URL, settings.DATABASE_URL, settings.NOTIFIER)
    if kind == "redis":
        return RedisNotifier(settings.BROKER_URL, f"cnnlab:{settings.QUEUE}:events")
    if kind == "postgres":
        return PostgresNotifier(settings.DATABASE_URL)
    return Notifier()
