"""Password hashing through pwdlib with argon2 (its recommended parameters); nothing hand-rolled."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 8
MAX_LENGTH = 256

_hasher = PasswordHash((Argon2Hasher(),))
_DUMMY = _hasher.hash("a password nobody has")  # verified for unknown users: same time, same answer


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; a user without a hash (cannot sign in) costs the same time."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # noqa: BLE001 - a malformed stored hash refuses, it does not crash sign-in
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"needs at least {MIN_LENGTH} characters, got {len(password)}"
    if len(password) > MAX_LENGTH:
        return f"is over the limit of {MAX_LENGTH} characters"
    return None
