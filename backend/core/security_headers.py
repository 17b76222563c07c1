"""Headers every response carries: a Content-Security-Policy without inline script, no framing,
no MIME sniffing, a strict referrer policy. A response that sets its own policy keeps it (the
self-contained study export, whose scripts are inline by design)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Plotly draws with inline style attributes and injects a <style>: styles may be inline, scripts not.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware, so streamed responses (the event stream) pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in HEADERS.items() if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
