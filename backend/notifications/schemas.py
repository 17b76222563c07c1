"""Webhook and delivery bodies, and the browser's notifications."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.core.fields import STRICT, UTCDateTime
from backend.core.statuses import SUBSCRIBABLE_EVENTS, DeliveryStatus, WebhookEvent
from backend.notifications.hosts import URL_MAX

SECRET_SHOWN = 12  # characters of a webhook's secret shown after its creation ("whsec_" and 6 more)


class WebhookCreate(BaseModel):
    model_config = STRICT

    url: str = Field(min_length=1, max_length=URL_MAX,
                     description="http(s) URL on a host of the lab's allowlist (CNNLAB_WEBHOOK_ALLOWED_HOSTS), "
                                 "without user:password; redirects are never followed")
    events: list[Annotated[WebhookEvent, Field(strict=False)]] = Field(
        min_length=1, max_length=len(SUBSCRIBABLE_EVENTS),
        description=f"what to be told of: {', '.join(SUBSCRIBABLE_EVENTS)}")

    @field_validator("events")
    @classmethod
    def _subscribable(cls, value: list[WebhookEvent]) -> list[WebhookEvent]:
        if WebhookEvent.PING in value:
            raise ValueError(f"'ping' is the test delivery, not an event to subscribe to; "
                             f"choose from {', '.join(SUBSCRIBABLE_EVENTS)}")
        if len(set(value)) != len(value):
            raise ValueError("names an event twice")
        return value


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    active: bool
    created_at: UTCDateTime
    secret_prefix: str = Field(description="the signing secret's first characters, to recognise it")


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="the signing secret (HMAC-SHA256): shown this once")


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    allowed_hosts: list[str] = Field(description="the lab's allowlist of webhook hosts (CNNLAB_WEBHOOK_ALLOWED_HOSTS); "
                                                 "empty: webhooks are off")
    limit: int = Field(description="webhooks one user may have (CNNLAB_MAX_WEBHOOKS_PER_USER)")
    max_attempts: int = Field(description="attempts of one delivery before it is failed (CNNLAB_WEBHOOK_MAX_ATTEMPTS)")


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    webhook_id: int
    event: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: UTCDateTime
    next_attempt_at: UTCDateTime | None = Field(description="when it is tried next (pending only)")
    delivered_at: UTCDateTime | None


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]


class Notice(BaseModel):
    """One thing of the user's that ended, as the browser is told it (GET /api/me/events)."""

    id: str = Field(description="the event's id, the same in every tab: 'run:12:succeeded' (the notification's tag)")
    event: WebhookEvent
    kind: Literal["run", "search"]
    object_id: int
    name: str
    status: str
    accuracy: float | None = Field(description="a run's test accuracy at its chosen epoch; a search's, of its trial "
                                               "chosen on validation")
    url: str = Field(description="its page, on this lab")
    at: UTCDateTime = Field(description="when it ended")

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
