"""Notifications over the API: a member's webhooks (their own only: another user's is a 404, for
admins too), each webhook's last deliveries and a test ping, and the caller's notification
stream, which every open page of a browser that asked for notifications follows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.streams import KEEPALIVE_S, RETRY, StreamMember, event_stream, sse, stream_responses
from backend.core import events
from backend.core.db import SessionDep
from backend.core.errors import QUOTA_RESPONSES, ErrorBody, field_error
from backend.core.fields import as_utc
from backend.core.limits import INT_MAX
from backend.core.settings import settings
from backend.core.tables import Webhook, utcnow
from backend.identity.rules import AUTH_RESPONSES, Member, Message
from backend.notifications import hosts
from backend.notifications import service as notifications
from backend.notifications.schemas import (
    DeliveriesPublic,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
)

router = APIRouter(prefix="/api", tags=["notifications"], responses=AUTH_RESPONSES)
WebhookId = Annotated[int, Path(ge=1, le=INT_MAX, description="a webhook's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message, "description": "No such webhook of yours"}}


def webhook_public(hook: Webhook) -> WebhookPublic:
    return WebhookPublic(id=hook.id, url=hook.url, events=list(hook.events or []), active=hook.active,
                         created_at=hook.created_at, secret_prefix=notifications.secret_prefix(hook))


@router.get("/webhooks", response_model=WebhooksPublic)
def read_my_webhooks(session: SessionDep, identity: Member) -> WebhooksPublic:
    """The caller's webhooks (an admin's too: only their own), and the lab's allowlist of hosts."""
    assert identity.user is not None  # Member: a signed-in user
    return WebhooksPublic(data=[webhook_public(h) for h in notifications.webhooks_of(session, identity.user)],
                          allowed_hosts=hosts.allowed_hosts_text(), limit=settings.MAX_WEBHOOKS_PER_USER,
                          max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses={
    422: {"model": ErrorBody, "description": "The URL is not http(s), carries credentials, or its host is not on "
                                             "the lab's allowlist (CNNLAB_WEBHOOK_ALLOWED_HOSTS) or resolves to a "
                                             "private address the allowlist does not name; or an unknown event"},
    **QUOTA_RESPONSES})
def create_my_webhook(body: WebhookCreate, session: SessionDep, identity: Member) -> WebhookCreated:
    """A new webhook of the caller's: each event it names is POSTed to its URL as signed JSON. The
    signing secret is in this answer only (later reads show its first characters). Recorded."""
    assert identity.user is not None
    hook, secret = notifications.create(session, identity.user, body)
    session.commit()
    return WebhookCreated(**webhook_public(hook).model_dump(), secret=secret)


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=NOT_FOUND)
def delete_my_webhook(webhook_id: WebhookId, session: SessionDep, identity: Member) -> None:
    """The webhook and its deliveries (those still pending are never sent). Recorded."""
    assert identity.user is not None
    notifications.delete(session, identity.user, notifications.own_webhook(session, identity.user, webhook_id))
    session.commit()


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesPublic, responses=NOT_FOUND)
def read_deliveries(webhook_id: WebhookId, session: SessionDep, identity: Member) -> DeliveriesPublic:
    """The webhook's last 20 deliveries, newest first: event, status, attempts, the last answer or error."""
    assert identity.user is not None
    hook = notifications.own_webhook(session, identity.user, webhook_id)
    return DeliveriesPublic(data=[DeliveryPublic.model_validate(d) for d in notifications.deliveries(session, hook)])


@router.post("/webhooks/{webhook_id}/test", status_code=202, response_model=DeliveryPublic, responses={
    **NOT_FOUND, 429: {"model": ErrorBody, "description": f"{notifications.PINGS_PENDING_MAX} pings of the webhook "
                                                         "are still pending: nothing was queued"}})
def test_my_webhook(webhook_id: WebhookId, session: SessionDep, identity: Member) -> DeliveryPublic:
    """Queues a `ping` delivery to the webhook (sent, signed and retried like any other), unless
    PINGS_PENDING_MAX (3) of its pings are still pending (429)."""
    assert identity.user is not None
    hook = notifications.own_webhook(session, identity.user, webhook_id)
    delivery = notifications.ping(session, hook)
    session.commit()
    events.deliveries_due()
    return DeliveryPublic.model_validate(delivery)


# --- the browser's notifications ---------------------------------------------------------------------

# an ISO 8601 moment as a string (not a number of seconds, which a datetime field would also take)
ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"


def _event_id(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


@router.get("/me/events", responses=stream_responses("The caller's notifications"))
async def read_my_events(
    identity: StreamMember,
    since: Annotated[str | None, Query(
        max_length=40, pattern=ISO_MOMENT,
        description="only what ended at or after this moment, ISO 8601 (at most an hour back); default: now")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> EventSourceResponse:
    """Server-Sent Events: `hello` first (`{"since"}`: the moment it tells from, on the server's
    clock), then a `notice` (backend.notifications.schemas.Notice) each time a run of the
    caller's (not a search's trial) or a search of theirs ends — succeeded, failed, cancelled,
    timed out; completed or stopped. Its `id` is the same in every tab (the notification's tag). A
    client that reconnects sends Last-Event-ID and gets what ended since."""
    assert identity.user is not None
    try:
        start = as_utc(datetime.fromisoformat(since)) if since is not None else utcnow()
    except ValueError:  # the pattern's shape, not a real moment (month 13)
        raise field_error("since", "is not a moment: give an ISO 8601 date and time") from None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first moment a datetime holds in UTC
        raise field_error("since", "is out of range: give a moment within the last hour") from None
    if last_event_id and last_event_id.isdigit() and len(last_event_id) < 16:
        try:
            start = max(start, datetime.fromtimestamp(int(last_event_id) / 1000, UTC))
        except (OverflowError, OSError, ValueError):
            pass  # not an id this stream sent: ignored, like any malformed Last-Event-ID
    return event_stream(identity, _notices(identity.user.id, start))


async def _notices(user_id: int, since: datetime) -> AsyncIterator[bytes]:
    yield RETRY
    yield sse("hello", json.dumps({"since": since.isoformat()}))  # the moment it tells from (the server's clock)
    cursor = since
    sent: dict[str, datetime] = {}  # what was sent at or after the cursor (its ties are read again)
    async with events.board.watch([events.user_topic(user_id)]) as watch:
        while True:
            watch.versions()
            before = cursor
            notices = await run_in_threadpool(notifications.notices_since, user_id, cursor)
            for notice in notices:
                if notice.id not in sent:
                    yield sse("notice", notice.model_dump_json(), _event_id(notice.at))
                    sent[notice.id] = notice.at
            if notices:
                cursor = max(cursor, notices[-1].at)
                sent = {k: at for k, at in sent.items() if at >= cursor}
            if len(notices) >= notifications.NOTICES_PER_READ and cursor > before:
                continue  # more ended at once than one read sends
            while not await watch.wait(KEEPALIVE_S):
                pass  # quiet: nothing to read (event_stream keeps the connection alive)
