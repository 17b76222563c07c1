"""Change notices: what changed, told at once to every event stream of every backend process.

A route that changes a run or a search calls ``changed(run_id)`` or ``search_changed(search_id)``
after its commit. The notice bumps the versions of its topics in this process (waking the streams
that wait on them, without any polling) and goes to the lab's other backend processes through
the notifier (``backend.core.notifier``: Redis pub/sub or PostgreSQL LISTEN/NOTIFY), whose listener
bumps the same topics there. Streams never read the database to learn *whether* something changed;
they read it (once per change, shared: ``backend.runs.live``) to learn *what*.

Topics: ``RUNS`` (any run: the runs list), ``run_topic(id)`` (one run's page), ``search_topic(id)``,
``user_topic(id)`` (a user's notifications), ``WEBHOOKS`` (deliveries due).
A notifier that lost its connection bumps every topic (``everything_changed``) when it is back,
so a notice missed meanwhile costs one re-read, never a stale page.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Sequence

log = logging.getLogger("cnnlab.events")

RUNS = "runs"


def run_topic(run_id: int) -> str:
    return f"run:{run_id}"


def search_topic(search_id: int) -> str:
    return f"search:{search_id}"


def user_topic(user_id: int) -> str:
    """A user's own notices (backend.notifications: a run or search of theirs ended)."""
    return f"user:{user_id}"


WEBHOOKS = "webhooks"  # webhook deliveries are due: each process's delivery loop looks at once


class Board:
    """This process's topic versions and the streams waiting on them.

    Bumped from any thread (sync routes run in a thread pool; the reaper too); waiters live on the
    event loop that ``bind`` names, and are woken there with ``call_soon_threadsafe``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._epoch = 0  # bumped by everything_changed: part of every version
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: dict[str, set[asyncio.Event]] = {}  # touched on the loop only
        self.publish: Callable[[list[str]], None] = lambda _topics: None  # set by the notifier

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def versions(self, topics: Sequence[str]) -> tuple[int, ...]:
        with self._lock:
            return (self._epoch, *(self._versions.get(t, 0) for t in topics))

    def bump(self, topics: Iterable[str], everything: bool = False) -> None:
        """Topics changed here or in another process: bump them and wake their streams."""
        topics = list(topics)
        with self._lock:
            if everything:
                self._epoch += 1
            for topic in topics:
                self._versions[topic] = self._versions.get(topic, 0) + 1
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake(topics, everything)
        else:
            try:
                loop.call_soon_threadsafe(self._wake, topics, everything)
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                pass

    def _wake(self, topics: list[str], everything: bool) -> None:
        woken: set[asyncio.Event] = set()
        if everything:
            for watchers in self._watchers.values():
                woken |= watchers
        for topic in topics:
            woken |= self._watchers.get(topic, set())
        for flag in woken:
            try:
                flag.set()
            except RuntimeError:  # a flag of a loop that has closed (an app stopped in this process)
                pass

    def watch(self, topics: Sequence[str]) -> Watch:
        return Watch(self, topics)

    def watching(self) -> int:
        """Streams waiting on this board (for tests and the health of the load test)."""
        return sum(len(w) for w in self._watchers.values())


class Watch:
    """One stream's wait on its topics: ``async with board.watch(topics) as w: await w.wait(t)``.

    The flag is cleared before the stream reads the versions, so a bump that lands between that
    read and the wait still wakes it (at worst once too often, never too late)."""

    def __init__(self, board: Board, topics: Sequence[str]) -> None:
        self.board, self.topics = board, list(topics)
        self.flag = asyncio.Event()

    def _register(self) -> None:
        for topic in self.topics:
            self.board._watchers.setdefault(topic, set()).add(self.flag)

    def _unregister(self) -> None:
        for topic in self.topics:
            watchers = self.board._watchers.get(topic)
            if watchers is not None:
                watchers.discard(self.flag)
                if not watchers:
                    del self.board._watchers[topic]

    async def __aenter__(self) -> Watch:
        self._register()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._unregister()

    def retopic(self, topics: Sequence[str]) -> None:
        """A search's stream watches its trials' runs, which come and go."""
        self._unregister()
        self.topics = list(topics)
        self._register()

    def versions(self) -> tuple[int, ...]:
        self.flag.clear()
        return self.board.versions(self.topics)

    async def wait(self, timeout: float) -> bool:
        """True when a topic moved (or may have), False after ``timeout`` seconds of quiet."""
        try:
            await asyncio.wait_for(self.flag.wait(), timeout)
            return True
        except TimeoutError:
            return False


board = Board()


def _notice(topics: list[str]) -> None:
    board.bump(topics)
    try:
        board.publish(topics)
    except Exception:  # noqa: BLE001 - the change is committed; other processes re-read when the notifier is back
        log.warning("change notice %s not published to the other backend processes", topics, exc_info=True)


def changed(run_id: int) -> None:
    """A run moved (status, epoch, progress, deleted): its page and the runs list send."""
    _notice([run_topic(run_id), RUNS])


def search_changed(search_id: int) -> None:
    """A search moved (a trial told or asked, stopped, resumed, deleted): its page's stream sends."""
    _notice([search_topic(search_id)])


def ended_for(user_id: int) -> None:
    """A run or search of the user ended: their notification streams read it, and the delivery
    loops send the webhook deliveries it made."""
    _notice([user_topic(user_id), WEBHOOKS])


def deliveries_due() -> None:
    """A webhook delivery was queued (a test ping): the delivery loops look at once."""
    _notice([WEBHOOKS])


def everything_changed() -> None:
    """Notices may have been missed (a notifier reconnected): every stream re-reads once."""
    board.bump([], everything=True)
