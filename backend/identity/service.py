"""What happens to people and their credentials: users, sessions, API tokens, the audit record.

Every change that ends someone's access (deactivation, a new password, a revoked token) takes
effect on the next request: credentials are looked up in the database on every request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.core.errors import UserError
from backend.core.fields import as_utc
from backend.core.settings import settings
from backend.core.statuses import Role, TokenKind
from backend.core.tables import (
    LOCAL_USERNAME,
    SYSTEM_USERNAME,
    ApiToken,
    AuditEvent,
    User,
    UserSession,
    utcnow,
)
from backend.identity.passwords import hash_password, password_problem
from backend.identity.secrets import USER_TOKEN_PREFIX, WORKER_TOKEN_PREFIX, digest, new_secret

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED = (SYSTEM_USERNAME, LOCAL_USERNAME)
LAST_USED_RESOLUTION = timedelta(seconds=60)  # a token's last-used time is written at most this often


def canonical(username: str) -> str:
    return username.strip().lower()


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == canonical(username)))


def ensure_user(session: Session, username: str, role: Role = Role.MEMBER) -> User:
    """The user of that name, made (without a password) when missing: the system and local users."""
    user = find_user(session, username)
    if user is None:
        user = User(username=canonical(username), display_name=username, role=role, active=True)
        session.add(user)
        session.flush()
    return user


def record(session: Session, actor: User | None, action: str, target_type: str, target_id: int | None,
           summary: str) -> None:
    session.add(AuditEvent(actor_id=actor.id if actor else None, action=action, target_type=target_type,
                           target_id=target_id, summary=summary[:2000]))


def create_user(session: Session, username: str, password: str | None, role: str = Role.MEMBER,
                display_name: str | None = None, actor: User | None = None) -> User:
    if not USERNAME_PATTERN.match(username):
        raise UserError("username", "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    if canonical(username) in RESERVED:
        raise UserError("username", f"{canonical(username)!r} is reserved")
    if role not in list(Role):
        raise UserError("role", f"must be one of {', '.join(Role)}")
    if find_user(session, username) is not None:
        raise UserError("username", f"{canonical(username)!r} is taken (usernames ignore case)", status=409)
    if password is not None and (problem := password_problem(password)):
        raise UserError("password", problem)
    user = User(username=canonical(username), display_name=(display_name or username).strip()[:200], role=role,
                active=True, password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    session.flush()
    record(session, actor, "user.create", "user", user.id, f"made {user.username} ({role})")
    return user


def end_sessions(session: Session, user: User) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    """A new password ends every session of the user at once (a stolen cookie dies with it)."""
    if user.username in RESERVED:
        raise UserError("password", f"{user.username!r} is a built-in user and never signs in", status=409)
    if problem := password_problem(password):
        raise UserError("password", problem)
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    record(session, actor, "user.password", "user", user.id, f"password of {user.username} set")


def set_active(session: Session, user: User, active: bool, actor: User | None = None) -> None:
    """Deactivation ends the user's sessions and revokes their API tokens for good: reactivating
    them revives neither (they sign in again and make new tokens)."""
    if user.username in RESERVED:
        raise UserError("active", f"{user.username!r} is a built-in user", status=409)
    if not active and actor is not None and actor.id == user.id:
        raise UserError("active", "you cannot deactivate yourself", status=409)
    if user.active == active:
        return
    user.active = active
    if active:
        record(session, actor, "user.activate", "user", user.id, f"{user.username} reactivated")
        return
    end_sessions(session, user)
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = utcnow()
    record(session, actor, "user.deactivate", "user", user.id,
           f"{user.username} deactivated, {len(tokens)} token(s) revoked")


def set_role(session: Session, user: User, role: str, actor: User | None = None) -> None:
    if role not in list(Role):
        raise UserError("role", f"must be one of {', '.join(Role)}")
    if user.username in RESERVED:
        raise UserError("role", f"{user.username!r} is a built-in user", status=409)
    if actor is not None and actor.id == user.id and role != Role.ADMIN:
        raise UserError("role", "you cannot take the admin role from yourself", status=409)
    if user.role != role:
        record(session, actor, "user.role", "user", user.id, f"{user.username}: {user.role} → {role}")
        user.role = role


# --- sessions ----------------------------------------------------------------------------------

@dataclass
class NewSession:
    cookie: str  # the secret the browser keeps
    row: UserSession


def start_session(session: Session, user: User) -> NewSession:
    secret = new_secret()
    now = utcnow()
    row = UserSession(user_id=user.id, token_hash=digest(secret), csrf_token=new_secret(), created_at=now,
                      last_seen_at=now, expires_at=now + timedelta(days=settings.SESSION_DAYS))
    session.add(row)
    user.last_sign_in_at = now
    session.flush()
    return NewSession(secret, row)


def session_of(session: Session, cookie: str) -> UserSession | None:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == digest(cookie)))
    if row is None or not row.user.active or as_utc(row.expires_at) <= utcnow():
        return None
    return row


def end_session(session: Session, cookie: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == digest(cookie)))


# --- API tokens --------------------------------------------------------------------------------

@dataclass
class NewToken:
    secret: str  # shown once
    row: ApiToken


def issue_token(session: Session, user: User | None, label: str, expires_days: float | None = None,
                actor: User | None = None, kind: TokenKind = TokenKind.USER) -> NewToken:
    label = label.strip()
    if not 1 <= len(label) <= 100:
        raise UserError("label", "needs 1 to 100 characters")
    secret = new_secret(USER_TOKEN_PREFIX if kind == "user" else WORKER_TOKEN_PREFIX)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    row = ApiToken(kind=kind, user_id=user.id if user else None, label=label, token_hash=digest(secret),
                   prefix=secret[:10], created_by_id=actor.id if actor else None, expires_at=expires)
    session.add(row)
    session.flush()
    owner = user.username if user else "workers"
    record(session, actor, f"{kind}_token.create", "token", row.id, f"token {label!r} of {owner}")
    return NewToken(secret, row)


def token_of(session: Session, secret: str) -> ApiToken | None:
    """The live token with that secret: not revoked, not expired, of an active user; its last-used
    time refreshed (at most once a minute, so a script's requests are not each a write)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and as_utc(row.expires_at) <= now):
        return None
    if row.kind == TokenKind.USER and (row.user is None or not row.user.active):
        return None
    if row.last_used_at is None or now - as_utc(row.last_used_at) > LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        session.commit()
    return row


def revoke_token(session: Session, token: ApiToken, actor: User | None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        owner = token.user.username if token.user else "workers"
        record(session, actor, f"{token.kind}_token.revoke", "token", token.id,
               f"token {token.label!r} of {owner} revoked")
