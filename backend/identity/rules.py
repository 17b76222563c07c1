"""The rules a route may declare — exactly one each (tests/backend/api/test_permissions.py checks every route):

- ``public``: anyone (health, the sign-in page, static files, the API docs);
- ``member``: a signed-in user of any role — reads everything, changes what they own;
- ``admin``: a signed-in admin;
- ``worker``: the worker credential only (CNNLAB_WORKER_TOKEN or a worker token); a user's
  token or cookie is refused. Which run a worker may write to is then decided by its lease.

Credentials: ``Authorization: Bearer`` (an API token or the worker credential), the session cookie
(browsers; state-changing requests need the page's CSRF token and must not be cross-site), or
nothing — the local admin in local mode, anonymous otherwise (401).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backend.core.db import SessionLocal, get_session
from backend.core.errors import field_error
from backend.core.statuses import Role
from backend.core.tables import LOCAL_USERNAME, ApiToken, User, UserSession
from backend.identity.mode import auth_mode, is_loopback
from backend.identity.secrets import same
from backend.identity.service import RESERVED, canonical, ensure_user, session_of, token_of
from backend.identity.worker_credential import worker_credential

SESSION_COOKIE = "cnnlab_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
NO_CREDENTIALS = "sign in, or send an API token as 'Authorization: Bearer …'"
NO_WORKER_CREDENTIAL = "worker routes need the worker credential as 'Authorization: Bearer …'"

bearer_scheme = HTTPBearer(auto_error=False, scheme_name="APIToken",
                           description="A personal API token: made on the Tokens page or with "
                                       "`python -m backend.cli.users token NAME --name LABEL`.")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="Session",
                             description="The browser's sign-in (POST /login). State-changing requests also "
                                         f"need the page's CSRF token in {CSRF_HEADER}.")
worker_scheme = HTTPBearer(auto_error=False, scheme_name="WorkerCredential",
                           description="CNNLAB_WORKER_TOKEN, or a worker token issued by an admin.")


class Message(BaseModel):
    detail: str


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Message, "description": "The thing's state refuses it (finished, running, shipped…)"}}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "No credentials, or unknown, revoked or expired ones"},
    403: {"model": Message, "description": "Signed in, but without the right (the message names the owner), "
                                           "or a cross-site request"},
}


@dataclass
class Identity:
    user: User | None
    via: str  # token | session | local | worker | anonymous
    session_row: UserSession | None = None
    token: ApiToken | None = None

    @property
    def is_worker(self) -> bool:
        return self.via == "worker"

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role == Role.ADMIN


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _from_bearer(session: Session, secret: str) -> Identity:
    if same(secret, worker_credential()):
        return Identity(None, "worker")
    token = token_of(session, secret)
    if token is None or (token.user is not None and token.user.username in RESERVED and auth_mode() != "local"):
        raise unauthorized("the bearer token is unknown, revoked or expired")
    if token.kind == "worker":
        return Identity(None, "worker", token=token)
    return Identity(token.user, "token", token=token)


def identify(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Identity:
    if bearer is not None:
        return _from_bearer(session, bearer.credentials)
    if cookie:
        row = session_of(session, cookie)
        if row is not None and row.user.username not in RESERVED:
            return Identity(row.user, "session", session_row=row)
    if auth_mode() == "local" and from_loopback(request):
        user = ensure_user(session, LOCAL_USERNAME, role=Role.ADMIN)
        session.commit()
        return Identity(user, "local")
    return Identity(None, "anonymous")


def from_loopback(request: Request) -> bool:
    """Local mode serves the laptop's own user only: a request whose socket is not loopback on
    both ends (a backend started by hand on 0.0.0.0, say) gets no free admin."""
    server = request.scope.get("server") or ("", 0)
    client = request.client.host if request.client else ""
    return is_loopback(client) and (not server[0] or is_loopback(server[0]))


def own_host(request: Request) -> str:
    return request.headers.get("host", "")


def check_not_cross_site(request: Request) -> None:
    """A browser tells where a request comes from (Sec-Fetch-Site, Origin); a plain cross-site
    form post carries another site's origin and is refused."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and urlsplit(origin).netloc != own_host(request)):
        raise HTTPException(403, "cross-site request refused: a page of another site cannot act for you here")


def check_ambient(request: Request, identity: Identity) -> None:
    """Credentials the browser sends by itself (the cookie; in local mode, none at all) cannot
    change anything for another site's page."""
    if request.method in SAFE_METHODS or identity.via not in ("session", "local"):
        return
    check_not_cross_site(request)
    if identity.via == "session":
        sent = request.headers.get(CSRF_HEADER.lower(), "")
        if not (sent and identity.session_row and same(sent, identity.session_row.csrf_token)):
            raise HTTPException(403, f"a signed-in browser request that changes something needs the page's CSRF "
                                     f"token in {CSRF_HEADER}")


def public() -> None:
    """Anyone."""


def member(request: Request, identity: Annotated[Identity, Depends(identify)]) -> Identity:
    if identity.is_worker:
        raise HTTPException(403, "the worker credential only reaches the worker routes")
    if identity.user is None:
        raise unauthorized(NO_CREDENTIALS)
    check_ambient(request, identity)
    return identity


def admin(identity: Annotated[Identity, Depends(member)]) -> Identity:
    if not identity.is_admin:
        assert identity.user is not None  # member() let a signed-in user through only
        raise HTTPException(403, f"only an admin may do this; {identity.user.username} is a member")
    return identity


def worker(bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(worker_scheme)]) -> Identity:
    """Checked with a session of its own, closed before the route runs: a checkpoint upload that
    streams for minutes holds no pooled connection meanwhile (the route opens its own when it
    writes)."""
    if bearer is None:
        raise unauthorized(NO_WORKER_CREDENTIAL)
    with SessionLocal() as session:
        identity = _from_bearer(session, bearer.credentials)
        session.expunge_all()
    if not identity.is_worker:
        raise HTTPException(403, "worker routes take the worker credential only, not a user's token")
    return identity


def brief_member(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Identity:
    """The ``member`` rule, checked with a session of its own that is closed before the route runs:
    for routes that last (event streams for hours, classify requests waiting for their pool), which
    must not hold one of the pool's connections meanwhile — ``member``'s request-scoped session is
    given back only when the response ends."""
    with SessionLocal() as session:
        identity = member(request, identify(request, session, bearer, cookie))
        session.expunge_all()  # the user's loaded fields stay readable; nothing is loaded later
    return identity


for _rule in (public, member, admin, worker):
    _rule.__rule__ = _rule.__name__  # type: ignore[union-attr]  # a marker attribute, read by test_permissions

brief_member.__rule__ = "member"  # type: ignore[attr-defined]  # the rule it applies
Member = Annotated[Identity, Depends(member)]
BriefMember = Annotated[Identity, Depends(brief_member)]
Admin = Annotated[Identity, Depends(admin)]


def require_owner(identity: Identity, owner: User, what: str, action: str) -> None:
    """Only the owner of a thing, or an admin, changes it (403 naming the owner)."""
    assert identity.user is not None
    if identity.is_admin or identity.user.id == owner.id:
        return
    raise HTTPException(403, f"{what} belongs to {owner.username}; only they or an admin may {action} it")


def check_owner_field(identity: Identity, owner: str | None, field: str = "owner") -> None:
    """A body may name its owner only as the caller: things belong to whoever made them."""
    assert identity.user is not None
    if owner is not None and canonical(owner) != identity.user.username:
        raise field_error(field, f"must be you ({identity.user.username}) or left out: what you make is yours, "
                                 f"got {owner!r}")
