"""User, password, token and audit bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from backend.core.fields import STRICT, UTCDateTime
from backend.core.statuses import Role, TokenKind
from backend.storage import MAX_QUOTA_BYTES


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    can_sign_in: bool = Field(description="false until the user has a password")
    created_at: UTCDateTime
    last_sign_in_at: UTCDateTime | None
    storage_quota_bytes: int | None = Field(None, description="the user's own storage quota on checkpoints and "
                                                              "models; None: the lab's (CNNLAB_STORAGE_QUOTA_BYTES)")


class MePublic(UserPublic):
    via: Literal["token", "session", "local"] = Field(description="how this request proved who it is")
    auth_mode: Literal["local", "required"]


class UserCreate(BaseModel):
    model_config = STRICT

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Role = Field(Role.MEMBER, strict=False)  # strict bodies: the word itself (JSON has no enum)
    password: str = Field(min_length=8, max_length=256)


class UserUpdate(BaseModel):
    model_config = STRICT

    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = Field(None, strict=False)
    active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256, description="a new password; ends the "
                                                                                  "user's sessions")
    storage_quota_bytes: int | None = Field(
        None, ge=1, le=MAX_QUOTA_BYTES, description="the user's storage quota on checkpoints and models, in bytes; "
                                                    "null: the lab's (CNNLAB_STORAGE_QUOTA_BYTES); left out: unchanged")


class UsersPublic(BaseModel):
    data: list[UserPublic]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class TokenCreate(BaseModel):
    model_config = STRICT

    label: str = Field(min_length=1, max_length=100)
    expires_days: float | None = Field(None, gt=0, le=3650, description="none: never expires")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: TokenKind
    label: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokensPublic(BaseModel):
    data: list[TokenPublic]


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UTCDateTime
    actor: str | None = Field(validation_alias=AliasChoices("actor_name", "actor"))
    action: str
    target_type: str
    target_id: int | None
    summary: str


class AuditList(BaseModel):
    data: list[AuditPublic]
