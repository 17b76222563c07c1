"""Random secrets (tokens, sessions, leases) and their stored form: only a SHA-256 is kept.

These secrets are 256 random bits, so a fast hash is enough to store them (no dictionary to
guess from); passwords, chosen by people, go through argon2 instead (backend.identity.passwords)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

USER_TOKEN_PREFIX = "cnl_"
WORKER_TOKEN_PREFIX = "cnw_"


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets (or their digests)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
