"""Helpers of the browser tests (Debian's Chromium through Playwright)."""

from __future__ import annotations

import re

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def watch_errors(page) -> list[str]:
    """Script errors and Content-Security-Policy refusals of the page: each one fails the test."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


def sign_in(page, username: str, password: str, path: str = "/") -> None:
    page.goto(path)
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(re.compile(".*" + re.escape(path.split("?")[0]) + r"(\?.*)?$"))
