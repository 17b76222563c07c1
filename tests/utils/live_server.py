"""The app served by a real uvicorn in a thread of the test process: real sockets and real
concurrency (open event streams, requests in flight side by side), with the test able to patch
what the app does and read its state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from tests.utils.services import free_port


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the in-process server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self, token: str, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {token}"},
                            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


@contextmanager
def serving(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class OpenStream:
    """One event stream held open by the test: its response, and its lines as they come."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self._context = client.stream("GET", path)
        self.response = self._context.__enter__()
        self._lines = self.response.iter_lines() if self.response.status_code == 200 else iter(())

    @property
    def status_code(self) -> int:
        return self.response.status_code

    def until(self, text: str, limit: int = 10_000) -> list[str]:
        """The lines read up to the first that contains ``text`` (the read timeout bounds the wait)."""
        seen = []
        for line in self._lines:
            seen.append(line)
            if text in line:
                return seen
            if len(seen) > limit:
                break
        raise AssertionError(f"the stream ended without {text!r}: {seen[-20:]}")

    def close(self) -> None:
        self._context.__exit__(None, None, None)
