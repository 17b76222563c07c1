"""Local HTTP receivers for webhook tests: http.server on 127.0.0.1 in a thread, recording each
request and answering from a script (status and headers; 200 once the script runs out); and one
that answers a byte at a time, never finishing."""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                code, headers = outer.answers.pop(0) if outer.answers else (200, {})
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = _answer  # noqa: N815 - http.server's names

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DripReceiver:
    """A receiver that reads the request, then answers ``head`` and ``chunk`` after ``chunk``
    every ``every`` seconds until closed or ``total`` bytes are sent (by default a header a byte
    every 0.2 s: an answer that never ends, though bytes keep coming); ``hung_up`` is set when the
    sender closes the connection before the end."""

    def __init__(self, head: bytes = b"HTTP/1.1 200 OK\r\nX-Slow: ", chunk: bytes = b"a", every: float = 0.2,
                 total: int | None = None) -> None:
        self.requests: list[bytes] = []
        self.stop, self.hung_up = threading.Event(), threading.Event()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request = b""
                while not request.endswith(b"\r\n\r\n"):
                    line = self.rfile.readline()
                    if not line:
                        return
                    request += line
                length = re.search(rb"(?i)content-length: *(\d+)", request)
                outer.requests.append(request + self.rfile.read(int(length.group(1)) if length else 0))
                sent = 0
                try:
                    self.wfile.write(head)
                    while not outer.stop.wait(every) and (total is None or sent < total):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        sent += len(chunk)
                except OSError:
                    outer.hung_up.set()  # the sender hung up

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/slow") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
