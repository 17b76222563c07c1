"""One delivery attempt (backend.notifications.delivery.attempt) against local receivers: a host
matched by a pattern is connected to at the address its check vetted, whatever DNS answers next
(rebinding); a failed answer is read only in part."""

from __future__ import annotations

import asyncio
import json
import socket

import httpcore
import pytest

from backend.core.settings import settings
from backend.notifications import delivery
from tests.backend.notifications.receiver import DripReceiver, Receiver
from tests.utils.services import wait_for

PUBLIC = "93.184.215.14"  # what the name answers first: a public address, so the pattern allows it


class StandIn(httpcore.AsyncNetworkBackend):
    """The network, with the receiver on 127.0.0.1 standing in for the public address: records
    every address a connection is made to."""

    def __init__(self, port: int) -> None:
        self.inner, self.port, self.connected = httpcore.AnyIOBackend(), port, []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        if host == PUBLIC:
            host, port = "127.0.0.1", self.port
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def claimed(url: str) -> delivery.Claimed:
    return delivery.Claimed(id=7, attempt=1, event="ping", payload={"kind": "ping"}, url=url, secret="whsec_x")


def attempt(url: str, inner: httpcore.AsyncNetworkBackend | None = None) -> tuple[int | None, str | None]:
    async def go() -> tuple[int | None, str | None]:
        async with delivery.new_client(inner) as client:
            return await delivery.attempt(client, claimed(url))
    return asyncio.run(go())


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_a_patterns_host_is_reached_at_the_address_checked_not_at_a_second_dns_answer(monkeypatch, receiver) -> None:
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host, port, *args, **kwargs):  # public once, then the lab's own loopback
        if (host.decode() if isinstance(host, bytes) else host) != "hooks.example.test":  # anyio asks in bytes
            return real(host, port, *args, **kwargs)
        asked.append("hooks.example.test")
        address = PUBLIC if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "*.example.test:*")
    network = StandIn(receiver.port)
    url = f"http://hooks.example.test:{receiver.port}/hook"
    assert attempt(url, network) == (200, None)
    assert network.connected == [PUBLIC] and asked == ["hooks.example.test"]  # resolved once: by the check
    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.example.test:{receiver.port}"  # the URL keeps its name
    assert json.loads(request.body)["event"] == "ping"
    # the next attempt checks again: the second answer, the loopback address, is refused unsent
    code, error = attempt(url, network)
    assert code is None and "resolves to 127.0.0.1, a loopback address" in (error or "")
    assert network.connected == [PUBLIC] and len(receiver.requests) == 1


def test_a_host_the_allowlist_names_is_connected_to_by_its_name(monkeypatch, receiver) -> None:
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "localhost:*")
    network = StandIn(receiver.port)
    assert attempt(f"http://localhost:{receiver.port}/hook", network) == (200, None)
    assert network.connected == ["localhost"]


def test_a_failed_answer_is_read_only_in_part(monkeypatch) -> None:
    """A 500 with a 100 MB body: its first bytes make the error, and the sender hangs up without
    reading the rest."""
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:*")
    total = 100_000_000
    flood = DripReceiver(f"HTTP/1.1 500 Oops\r\nContent-Length: {total}\r\n\r\n".encode(), b"x" * 65536, 0.0, total)
    try:
        code, error = attempt(flood.url())
        assert code == 500 and error == "answered 500: " + repr("x" * delivery.ANSWER_SHOWN)
        wait_for(flood.hung_up.is_set, 60, "the sender hung up")
    finally:
        flood.close()
