"""The lab's mode and the checks made before the backend serves anything.

``local``: every request without credentials is the one local admin — for a laptop, so only
while the backend is bound to a loopback address. ``required``: everyone signs in; the default on
any other address. A backend that would be open on a network, or that nobody could sign in to,
refuses to start.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core.errors import StartupRefused
from backend.core.settings import settings
from backend.core.statuses import Role
from backend.core.tables import User

MODES = ("local", "required")


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_mode() -> str:
    return settings.AUTH or ("local" if is_loopback(settings.HOST) else "required")


def allowed_hosts() -> list[str]:
    """Host header values the backend answers (DNS rebinding: a page of another site resolved to
    127.0.0.1 carries its own name in Host and is refused)."""
    if settings.ALLOWED_HOSTS.strip():
        return [h.strip() for h in settings.ALLOWED_HOSTS.split(",") if h.strip()]
    hosts = ["localhost", "127.0.0.1", "[::1]"]
    if settings.HOST not in ("0.0.0.0", "::", "") and settings.HOST not in hosts:
        hosts.append(settings.HOST)
    return hosts


def check_mode() -> None:
    mode = auth_mode()
    if mode not in MODES:
        raise StartupRefused(f"CNNLAB_AUTH={settings.AUTH!r}: must be 'local' or 'required'")
    if mode == "local" and not is_loopback(settings.HOST):
        raise StartupRefused(
            f"CNNLAB_AUTH=local serves everyone as an admin without sign-in, so it only runs on a loopback "
            f"address; CNNLAB_HOST is {settings.HOST!r}. Use CNNLAB_AUTH=required (the default there).")


def check_admin_exists(session: Session) -> None:
    if auth_mode() != "required":
        return
    admins = session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.active.is_(True), User.password_hash.is_not(None))) or 0
    if not admins:
        raise StartupRefused(
            "CNNLAB_AUTH=required and no active admin with a password: nobody could sign in. Make one first:\n"
            "    python -m backend.cli.users create NAME --admin")
