"""People and credentials over the API: who am I, my password, my tokens; for admins, users,
worker tokens and the audit record. The same actions as `python -m backend.cli.users` and the
Users and Tokens pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from backend.core.db import SessionDep
from backend.core.errors import ErrorBody
from backend.core.limits import TokenId, UserId
from backend.core.statuses import TokenKind
from backend.core.tables import ApiToken, AuditEvent, User
from backend.identity import service as user_service
from backend.identity.limiter import signin_limiter
from backend.identity.mode import auth_mode
from backend.identity.passwords import verify_password
from backend.identity.rules import AUTH_RESPONSES, Admin, Member, Message
from backend.identity.schemas import (
    AuditList,
    AuditPublic,
    MePublic,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    TokensPublic,
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
)

router = APIRouter(prefix="/api", tags=["identity"], responses=AUTH_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message, "description": "No such user or token"}}


@router.get("/me", response_model=MePublic)
def read_me(identity: Member) -> MePublic:
    """Who the caller is, and how the request proved it."""
    user = identity.user
    return MePublic.model_validate({**UserPublic.model_validate(user).model_dump(), "via": identity.via,
                                    "auth_mode": auth_mode()})


@router.post("/me/password", status_code=204, responses={
    429: {"model": Message, "description": "Too many wrong passwords (shared with the sign-in's limit)"}})
def change_my_password(body: PasswordChange, request: Request, session: SessionDep, identity: Member) -> None:
    """Needs the current password (403 without it: it is what allows the change); ends every
    session of the caller (sign in again). Wrong current passwords count as failed sign-ins: past
    the sign-in's limit the check is refused unmade (429 with Retry-After)."""
    user = identity.user
    assert user is not None  # Member: a signed-in user
    wait, succeeded = signin_limiter.check(user.username, request.client.host if request.client else "unknown")
    if wait is not None:
        raise HTTPException(429, f"too many wrong passwords; try again in {wait} s", headers={"Retry-After": str(wait)})
    if not verify_password(body.current_password, user.password_hash):
        raise HTTPException(403, "current_password: is not your current password")  # the attempt stays counted
    succeeded()
    user_service.set_password(session, user, body.new_password, actor=user)
    session.commit()


# --- personal API tokens -----------------------------------------------------------------------

def tokens_where(session: Session, *conditions: ColumnElement[bool]) -> TokensPublic:
    rows = session.scalars(select(ApiToken).where(*conditions).order_by(ApiToken.id.desc())).all()
    return TokensPublic(data=[TokenPublic.model_validate(r) for r in rows])


@router.get("/tokens", response_model=TokensPublic)
def read_my_tokens(session: SessionDep, identity: Member) -> TokensPublic:
    assert identity.user is not None  # Member: a signed-in user
    return tokens_where(session, ApiToken.user_id == identity.user.id, ApiToken.kind == TokenKind.USER)


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def create_my_token(body: TokenCreate, session: SessionDep, identity: Member) -> TokenCreated:
    """A new token of the caller's; its secret is in this response only."""
    made = user_service.issue_token(session, identity.user, body.label, body.expires_days, actor=identity.user)
    session.commit()
    return TokenCreated.model_validate({**TokenPublic.model_validate(made.row).model_dump(), "token": made.secret})


@router.delete("/tokens/{token_id}", status_code=204, responses=NOT_FOUND)
def revoke_my_token(token_id: TokenId, session: SessionDep, identity: Member) -> None:
    """The token's owner, or an admin; refused from the next request on. Recorded."""
    token = session.get(ApiToken, token_id)
    if token is None or token.kind != TokenKind.USER:
        raise HTTPException(404, f"Token {token_id} not found")
    assert identity.user is not None  # Member: a signed-in user
    if token.user_id != identity.user.id and not identity.is_admin:
        assert token.user is not None  # a token of kind 'user' has its user
        raise HTTPException(403, f"token {token_id} belongs to {token.user.username}; only they or an admin may "
                                 "revoke it")
    user_service.revoke_token(session, token, identity.user)
    session.commit()


# --- admins: users, worker tokens, the audit record ----------------------------------------------

@router.get("/users", response_model=UsersPublic)
def read_users(session: SessionDep, _identity: Admin) -> UsersPublic:
    rows = session.scalars(select(User).order_by(User.username)).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in rows])


@router.post("/users", status_code=201, response_model=UserPublic,
             responses={409: {"model": ErrorBody, "description": "The username is taken"}})
def create_user(body: UserCreate, session: SessionDep, identity: Admin) -> UserPublic:
    user = user_service.create_user(session, body.username, body.password, body.role, body.display_name,
                                    actor=identity.user)
    session.commit()
    return UserPublic.model_validate(user)


@router.patch("/users/{user_id}", response_model=UserPublic, responses={
    **NOT_FOUND, 409: {"model": ErrorBody, "description": "A built-in user, or taking your own admin role or access"}})
def update_user(user_id: UserId, body: UserUpdate, session: SessionDep, identity: Admin) -> UserPublic:
    """Display name, role, active flag, password, storage quota (null: the lab's). Deactivating a
    user or setting their password ends their sessions at once; deactivating also revokes every API
    token of theirs, so reactivating them revives no old credential (new tokens are made). Each
    change is recorded."""
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"User {user_id} not found")
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.role is not None:
        user_service.set_role(session, user, body.role, actor=identity.user)
    if body.active is not None:
        user_service.set_active(session, user, body.active, actor=identity.user)
    if body.password is not None:
        user_service.set_password(session, user, body.password, actor=identity.user)
    if "storage_quota_bytes" in body.model_fields_set:  # null: back to the lab's quota
        quota = body.storage_quota_bytes
        user.storage_quota_bytes = quota
        user_service.record(session, identity.user, "user.storage_quota", "user", user.id,
                            f"storage quota of {user.username} set to "
                            f"{f'{quota} bytes' if quota is not None else 'the lab default'}")
    session.commit()
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}/tokens", response_model=TokensPublic, responses=NOT_FOUND)
def read_user_tokens(user_id: UserId, session: SessionDep, _identity: Admin) -> TokensPublic:
    """Any user's tokens (revoke one with DELETE /api/tokens/{id}): an admin can always find them."""
    if session.get(User, user_id) is None:
        raise HTTPException(404, f"User {user_id} not found")
    return tokens_where(session, ApiToken.user_id == user_id, ApiToken.kind == TokenKind.USER)


@router.get("/worker-tokens", response_model=TokensPublic)
def read_worker_tokens(session: SessionDep, _identity: Admin) -> TokensPublic:
    return tokens_where(session, ApiToken.kind == TokenKind.WORKER)


@router.post("/worker-tokens", status_code=201, response_model=TokenCreated)
def create_worker_token(body: TokenCreate, session: SessionDep, identity: Admin) -> TokenCreated:
    """A credential for one worker machine (CNNLAB_WORKER_TOKEN there); revocable on its own."""
    made = user_service.issue_token(session, None, body.label, body.expires_days, actor=identity.user,
                                    kind=TokenKind.WORKER)
    session.commit()
    return TokenCreated.model_validate({**TokenPublic.model_validate(made.row).model_dump(), "token": made.secret})


@router.delete("/worker-tokens/{token_id}", status_code=204, responses=NOT_FOUND)
def revoke_worker_token(token_id: TokenId, session: SessionDep, identity: Admin) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.kind != TokenKind.WORKER:
        raise HTTPException(404, f"Worker token {token_id} not found")
    user_service.revoke_token(session, token, identity.user)
    session.commit()


@router.get("/audit", response_model=AuditList)
def read_audit(session: SessionDep, _identity: Admin, limit: int = Query(100, ge=1, le=1000)) -> AuditList:
    """The newest recorded actions first."""
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).all()
    return AuditList(data=[AuditPublic.model_validate(r) for r in rows])
