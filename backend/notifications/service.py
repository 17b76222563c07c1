"""What a user is told when a run or search of theirs ends: webhook deliveries queued in the same
transaction as the status that makes them, and the browser's notices read back from the runs and
searches themselves.

``run_ended`` and ``search_ended`` are called where a status becomes final, before that change
commits (backend.runs.service: a worker's finish, a queued run's cancel, the reaper's verdict on
a lost run; backend.searches.engine: a search completed or stopped). They add one WebhookDelivery
per active webhook of the owner subscribed to the event, and — once the transaction commits —
wake the owner's notification streams and every process's delivery loop
(``events.ended_for``), so a rolled back change tells no one.

Webhooks are the caller's own: nobody, an admin included, lists or touches another user's (a
webhook's URL may carry its owner's private endpoint; the allowlist is the admin's control).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core import events
from backend.core.db import SessionLocal
from backend.core.errors import QuotaExceeded, field_error
from backend.core.settings import settings
from backend.core.statuses import (
    RUN_EVENTS,
    SEARCH_EVENTS,
    TRAINED_STATUSES,
    DeliveryStatus,
    RunStatus,
    SearchStatus,
    WebhookEvent,
)
from backend.core.tables import Run, Search, User, Webhook, WebhookDelivery, utcnow
from backend.identity import service as user_service
from backend.identity.secrets import new_secret
from backend.notifications import hosts
from backend.notifications.schemas import SECRET_SHOWN, Notice, WebhookCreate

SECRET_PREFIX = "whsec_"
DELIVERIES_SHOWN = 20  # a webhook's last deliveries, as GET /api/webhooks/{id}/deliveries lists them
PINGS_PENDING_MAX = 3  # a webhook's test pings pending at once (POST /api/webhooks/{id}/test: 429 past it)
NOTICES_PER_READ = 20  # things ended that one read of a notification stream sends at most
NOTICES_LOOKBACK = timedelta(hours=1)  # how far back a stream's ``since`` may reach
_ENDED_FOR = "cnnlab.notifications.ended_for"  # Session.info: the users to tell once the transaction commits


def lab_url(path: str) -> str:
    return (settings.PUBLIC_URL or settings.BACKEND_URL).rstrip("/") + path


# --- the events, in the transaction that makes them -------------------------------------------------------

def _tell_after_commit(session: Session, user_id: int) -> None:
    session.info.setdefault(_ENDED_FOR, set()).add(user_id)


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for user_id in sorted(session.info.pop(_ENDED_FOR, ())):
        events.ended_for(user_id)


@sa_event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_ENDED_FOR, None)


def _enqueue(session: Session, user_id: int, event: WebhookEvent, payload: dict[str, Any]) -> int:
    """One delivery per active webhook of the user subscribed to ``event``; how many."""
    hooks = session.scalars(select(Webhook).where(Webhook.user_id == user_id, Webhook.active.is_(True))).all()
    now = utcnow()
    made = 0
    for hook in hooks:
        if str(event) in (hook.events or []):
            session.add(WebhookDelivery(webhook_id=hook.id, event=str(event), payload=payload,
                                        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now))
            made += 1
    return made


def run_ended(session: Session, run_id: int, status: str) -> None:
    """The run reached a final status in this (uncommitted) transaction: queue its owner's
    deliveries; their notification streams hear of it at the commit. A pruned trial tells no one."""
    event = RUN_EVENTS.get(RunStatus(status))
    if event is None:
        return
    row = session.execute(select(Run.owner_id, Run.name, Run.test_acc_at_best_val, Run.search_id)
                          .where(Run.id == run_id)).one_or_none()
    if row is None:
        return
    payload = {"kind": "run", "run_id": run_id, "name": row.name, "status": str(status),
               "accuracy": row.test_acc_at_best_val, "search_id": row.search_id, "url": lab_url(f"/runs/{run_id}"),
               "occurred_at": utcnow().isoformat()}
    _enqueue(session, row.owner_id, event, payload)
    _tell_after_commit(session, row.owner_id)


def search_accuracy(session: Session, search_id: int) -> float | None:
    """The test accuracy of the search's trial chosen on validation (on test where its runs hold none out)."""
    chosen = func.coalesce(Run.best_val_acc, Run.test_acc_at_best_val)
    return session.scalar(
        select(Run.test_acc_at_best_val)
        .where(Run.search_id == search_id, Run.status.in_(TRAINED_STATUSES), Run.test_acc_at_best_val.is_not(None))
        .order_by(chosen.desc(), Run.id).limit(1))


def search_ended(session: Session, search: Search) -> None:
    """The search became completed or stopped in this (uncommitted) transaction."""
    event = SEARCH_EVENTS.get(SearchStatus(search.status))
    if event is None:
        return
    payload = {"kind": "search", "search_id": search.id, "name": search.name, "status": str(search.status),
               "accuracy": search_accuracy(session, search.id), "url": lab_url(f"/searches/{search.id}"),
               "occurred_at": utcnow().isoformat()}
    _enqueue(session, search.owner_id, event, payload)
    _tell_after_commit(session, search.owner_id)


# --- webhooks, the caller's own -----------------------------------------------------------------------

def check_url(url: str) -> None:
    """422 on ``url`` naming why, unless the URL is one a webhook may be sent to."""
    try:
        hosts.check_url(url)
    except hosts.NotAllowed as exc:
        raise field_error("url", str(exc)) from None


def own_webhook(session: Session, user: User, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise HTTPException(404, f"Webhook {webhook_id} not found")
    return hook


def webhooks_of(session: Session, user: User) -> Sequence[Webhook]:
    return session.scalars(select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.id)).all()


def create(session: Session, user: User, body: WebhookCreate) -> tuple[Webhook, str]:
    """A new webhook of the user's and its secret (returned this once)."""
    limit = settings.MAX_WEBHOOKS_PER_USER
    current = session.scalar(select(func.count()).select_from(Webhook).where(Webhook.user_id == user.id)) or 0
    if current >= limit:
        raise QuotaExceeded("webhooks", limit, current, f"you have {current} webhooks; the limit is {limit} per user "
                                                        "(CNNLAB_MAX_WEBHOOKS_PER_USER): delete one first")
    check_url(body.url)
    secret = new_secret(SECRET_PREFIX)
    hook = Webhook(user_id=user.id, url=body.url, secret=secret, events=[str(e) for e in body.events], active=True)
    session.add(hook)
    session.flush()
    user_service.record(session, user, "webhook.create", "webhook", hook.id,
                        f"webhook {hook.id} to {hosts.parse_url(body.url)[1]} for {', '.join(hook.events)}")
    return hook, secret


def delete(session: Session, user: User, hook: Webhook) -> None:
    user_service.record(session, user, "webhook.delete", "webhook", hook.id, f"webhook {hook.id} deleted")
    session.delete(hook)  # its deliveries go with it (ON DELETE CASCADE)


def deliveries(session: Session, hook: Webhook) -> Sequence[WebhookDelivery]:
    return session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
                           .order_by(WebhookDelivery.id.desc()).limit(DELIVERIES_SHOWN)).all()


def ping(session: Session, hook: Webhook) -> WebhookDelivery:
    """A test delivery, queued now (sent by the delivery loop like any other); 429 naming the
    limit while PINGS_PENDING_MAX pings of the webhook are still pending."""
    limit = PINGS_PENDING_MAX
    session.execute(select(Webhook.id).where(Webhook.id == hook.id).with_for_update())  # one ping counted at a time
    pending = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.webhook_id == hook.id, WebhookDelivery.event == str(WebhookEvent.PING),
        WebhookDelivery.status == DeliveryStatus.PENDING)) or 0
    if pending >= limit:
        raise QuotaExceeded("pings", limit, pending, f"{pending} test pings of webhook {hook.id} are still pending; "
                                                     f"the limit is {limit}: wait for them to be sent")
    delivery = WebhookDelivery(webhook_id=hook.id, event=str(WebhookEvent.PING), status=DeliveryStatus.PENDING,
                               payload={"kind": "ping", "webhook_id": hook.id, "message": "a test delivery from cnnlab",
                                        "occurred_at": utcnow().isoformat()},
                               attempts=0, next_attempt_at=utcnow())
    session.add(delivery)
    session.flush()
    return delivery


def secret_prefix(hook: Webhook) -> str:
    return hook.secret[:SECRET_SHOWN] + "…"


# --- the browser's notices ----------------------------------------------------------------------------

def notices_since(user_id: int, since: datetime) -> list[Notice]:
    """The user's runs (not a search's trials: their search tells) and searches that ended at or
    after ``since``, oldest first, at most NOTICES_PER_READ. A short session of its own."""
    since = max(since, utcnow() - NOTICES_LOOKBACK)
    out: list[Notice] = []
    with SessionLocal() as session:
        runs = session.execute(
            select(Run.id, Run.name, Run.status, Run.test_acc_at_best_val, Run.finished_at)
            .where(Run.owner_id == user_id, Run.search_id.is_(None), Run.status.in_(list(RUN_EVENTS)),
                   Run.finished_at >= since)
            .order_by(Run.finished_at, Run.id).limit(NOTICES_PER_READ)).all()
        for r in runs:
            out.append(Notice(id=f"run:{r.id}:{r.status}", event=RUN_EVENTS[RunStatus(r.status)], kind="run",
                              object_id=r.id, name=r.name, status=r.status, accuracy=r.test_acc_at_best_val,
                              url=f"/runs/{r.id}", at=r.finished_at))
        searches = session.execute(
            select(Search.id, Search.name, Search.status, Search.finished_at)
            .where(Search.owner_id == user_id, Search.status.in_(list(SEARCH_EVENTS)), Search.finished_at >= since)
            .order_by(Search.finished_at, Search.id).limit(NOTICES_PER_READ)).all()
        for s in searches:
            out.append(Notice(id=f"search:{s.id}:{s.status}", event=SEARCH_EVENTS[SearchStatus(s.status)],
                              kind="search", object_id=s.id, name=s.name, status=s.status,
                              accuracy=search_accuracy(session, s.id), url=f"/searches/{s.id}", at=s.finished_at))
    out.sort(key=lambda n: n.at)
    return out[:NOTICES_PER_READ]
