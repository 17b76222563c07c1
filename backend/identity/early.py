"""Anonymous bodies are refused unread: a request with a body (Content-Length above 0, or chunked)
to an API route whose rule needs credentials, and carrying none — no Authorization header, no
session cookie, not the laptop's own request in local mode — is answered 401 before a byte of
its body is read. Everything else goes on to the app, whose rules decide as always
(backend.identity.rules): this only answers earlier what they would answer after the body. A request
that carries a credential, even a wrong one, is read up to the body's cap (CNNLAB_MAX_BODY_BYTES)
before its credential is checked: telling a wrong one needs the database, which this does not ask."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.identity.mode import auth_mode
from backend.identity.routing import declared_rules, every_route
from backend.identity.rules import NO_CREDENTIALS, NO_WORKER_CREDENTIAL, SESSION_COOKIE, from_loopback

NEEDS_CREDENTIALS = ("member", "admin", "worker")


def rule_of(scope: Scope) -> str | None:
    """The rule of the route that will answer the request (the first that matches it fully, as the
    router picks); None when no route does, or it declares no rule (a mount)."""
    app = scope.get("app")
    for route in every_route(getattr(app, "routes", [])):
        if route.matches(scope)[0] == Match.FULL:
            rules = declared_rules(route)
            return rules[0] if rules else None
    return None


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or (
        "chunked" in request.headers.get("transfer-encoding", "").lower())


class EarlyAuth:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/api/"):
            request = Request(scope)  # headers only: the body stays unread
            if has_body(request) and "authorization" not in request.headers and not request.cookies.get(
                    SESSION_COOKIE):
                rule = rule_of(scope)
                local_admin = rule != "worker" and auth_mode() == "local" and from_loopback(request)
                if rule in NEEDS_CREDENTIALS and not local_admin:
                    await _refuse(send, NO_WORKER_CREDENTIAL if rule == "worker" else NO_CREDENTIALS)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"), (b"connection", b"close")]})  # close: the unread body is not ours to drain
    await send({"type": "http.response.body", "body": body})
