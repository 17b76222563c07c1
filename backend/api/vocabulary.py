"""GET /api/vocabulary: every enumerated word of the lab (backend.core.statuses.vocabulary()), for
scripts — the client reads which run statuses are final from it instead of keeping a copy."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from backend.core.statuses import (
    CheckpointKind,
    DeliveryStatus,
    ModelStatus,
    RetentionKeep,
    Role,
    RunStatus,
    SearchStatus,
    SelectedOn,
    TokenKind,
    TrialState,
    WebhookEvent,
    vocabulary,
)
from backend.identity.rules import AUTH_RESPONSES, Member

router = APIRouter(prefix="/api", tags=["vocabulary"], responses=AUTH_RESPONSES)


class Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a word list vocabulary() gains must be declared here too

    run_statuses: list[RunStatus]
    active_run_statuses: list[RunStatus] = Field(description="queued or running: the run may still change")
    finished_run_statuses: list[RunStatus] = Field(description="final: a run in one of these never changes again")
    trained_run_statuses: list[RunStatus] = Field(description="finished with numbers that count: succeeded, or "
                                                              "stopped by its time budget")
    search_statuses: list[SearchStatus]
    trial_states: list[TrialState]
    model_statuses: list[ModelStatus]
    checkpoint_kinds: list[CheckpointKind]
    roles: list[Role]
    token_kinds: list[TokenKind]
    selected_on: list[SelectedOn] = Field(description="what chose a run's best epoch: validation or test")
    retention_keeps: list[RetentionKeep] = Field(description="what an old finished run keeps under the lab's "
                                                             "retention (CNNLAB_RETENTION_KEEP)")
    delivery_statuses: list[DeliveryStatus] = Field(description="a webhook delivery: pending, delivered or failed")
    webhook_events: list[WebhookEvent] = Field(description="what a webhook may ask to be told of")


@router.get("/vocabulary")
def read_vocabulary(_identity: Member) -> Vocabulary:
    """Every enumerated word, each list in its declared order."""
    return Vocabulary.model_validate(vocabulary())
