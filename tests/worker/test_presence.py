"""The worker's presence beat (worker.presence): it says the worker is up at once and then every
interval, with the worker credential, and a backend that does not answer never stops it or raises."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.utils.auth import WORKER_TOKEN
from tests.utils.services import free_port, wait_for
from worker.device import device_label
from worker.presence import Beat, worker_name


class Backend:
    """Records the presence calls it gets; answers ``status`` (204 by default)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.status = 204
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                backend.calls.append((self.headers["Authorization"], body))
                self.send_response(backend.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_beat_says_up_at_once_then_every_interval_first_only_once() -> None:
    backend = Backend()
    beat = Beat("cpu-1@box", interval_s=0.05, base_url=backend.url).start()
    try:
        wait_for(lambda: len(backend.calls) >= 3, 30, "three beats")
    finally:
        beat.stop()
        backend.close()
    auth, first = backend.calls[0]
    assert auth == f"Bearer {WORKER_TOKEN}"
    assert first["name"] == "cpu-1@box" and first["first"] is True and first["device"] and first["host"]
    assert [body["first"] for _, body in backend.calls[1:3]] == [False, False]


def test_a_refused_beat_is_said_first_again() -> None:
    backend = Backend()
    backend.status = 503
    beat = Beat("cpu-1@box", interval_s=0.05, base_url=backend.url).start()
    try:
        wait_for(lambda: len(backend.calls) >= 2, 30, "two beats")
        assert beat.sent == 0 and all(body["first"] for _, body in backend.calls)
    finally:
        beat.stop()
        backend.close()


def test_an_unreachable_backend_never_stops_the_beat() -> None:
    beat = Beat("cpu-1@box", interval_s=0.05, base_url=f"http://127.0.0.1:{free_port()}").start()
    wait_for(lambda: beat.tries >= 3, 30, "three tries with nothing answering")
    assert beat.running and beat.sent == 0
    beat.stop(wait_s=10)
    assert not beat.running


def test_a_worker_is_named_by_its_celery_hostname_else_host_device_pid() -> None:
    assert worker_name("gpu0-1@box") == "gpu0-1@box"
    assert worker_name(None) == f"{socket.gethostname()}:{device_label('auto')}:{os.getpid()}"
