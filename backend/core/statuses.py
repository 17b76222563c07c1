"""The lab's enumerated words, declared once: a run's statuses and the reasons a training stops,
what chose a run's best epoch, a search's and a trial's states, a model export's status, a
checkpoint's kind, a user's role.

The tables' CHECK constraints, the schemas, the routes, the trainer and the runner read these; the
page scripts get them from the server (``data-*`` on every page's body, read by common.js).
Pure Python: the worker imports it too.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    PRUNED = "pruned"  # a search's trial its pruner stopped early (its recorded epochs kept)


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT,
                     RunStatus.PRUNED)
# finished with numbers that count (a group's mean, a trial's value, a study's figures, the client's exit 0):
# every planned epoch, or as many as the time budget allowed
TRAINED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.TIMED_OUT)


class StopReason(StrEnum):
    """Why a training loop ended (TrainResult.stop_reason)."""

    COMPLETED = "completed"  # every planned epoch
    EARLY_STOPPING = "early_stopping"
    TIME_BUDGET = "time_budget"
    DIVERGED = "diverged"  # the loss stopped being a number
    CANCELLED = "cancelled"  # someone asked the backend to cancel
    PRUNED = "pruned"  # the run's search pruned it (backend.searches)
    SUPERSEDED = "superseded"  # the backend gave the run to another attempt: report nothing more


# the run's final status for each reason (a superseded attempt reports none)
FINAL_STATUS: dict[StopReason, RunStatus] = {
    StopReason.COMPLETED: RunStatus.SUCCEEDED,
    StopReason.EARLY_STOPPING: RunStatus.SUCCEEDED,
    StopReason.TIME_BUDGET: RunStatus.TIMED_OUT,
    StopReason.DIVERGED: RunStatus.FAILED,
    StopReason.CANCELLED: RunStatus.CANCELLED,
    StopReason.PRUNED: RunStatus.PRUNED,
}


class SelectedOn(StrEnum):
    """What chose a run's best epoch (its checkpoint, exported model, early stop, rankings): the
    validation split (held-out training images), or — for runs without one, and every run recorded
    before it existed — the test set, whose choices are optimistic and labelled so."""

    VAL = "val"
    TEST = "test"


SELECTED_ON_WORDS = {SelectedOn.VAL: "chosen on validation", SelectedOn.TEST: "chosen on test"}


class SearchStatus(StrEnum):
    """A search's state: running asks for trials; stopped asks for none (its runs were cancelled)
    until resumed; completed has all its trials told."""

    RUNNING = "running"
    STOPPED = "stopped"
    COMPLETED = "completed"


class TrialState(StrEnum):
    """A search trial's state as the API and the pages say it (Optuna's states, in the lab's words:
    done is ``completed`` as for a search, failed is ``failed`` as for a run; ``infeasible``: a
    sampled config the lab refused, never trained)."""

    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    INFEASIBLE = "infeasible"


class ModelStatus(StrEnum):
    """A run's ONNX export: being made by a worker, ready to download and predict with, or failed."""

    EXPORTING = "exporting"
    READY = "ready"
    FAILED = "failed"


class CheckpointKind(StrEnum):
    """best: the weights of the epoch chosen on validation (on test for runs without a holdout);
    last: the latest epoch's, to resume from."""

    BEST = "best"
    LAST = "last"


class RetentionKeep(StrEnum):
    """What the lab's retention (CNNLAB_RETENTION_DAYS) keeps of an old finished run: its best and
    last checkpoints and its model (anything else in its folder goes), or its exported model only."""

    BEST_LAST = "best_last"
    MODEL = "model"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class TokenKind(StrEnum):
    """An API token of a user (scripts), or a worker machine's credential issued by an admin (no user)."""

    USER = "user"
    WORKER = "worker"


class DeliveryStatus(StrEnum):
    """A webhook delivery: waiting for its (next) attempt, delivered (a 2xx), or given up after its retries."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEvent(StrEnum):
    """What a user may be told of (backend.notifications: webhooks and the browser's notifications):
    one of their runs ended, or one of their searches did. ``ping`` is a webhook's test delivery
    (POST /api/webhooks/{id}/test), never subscribed to."""

    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_TIMED_OUT = "run.timed_out"
    SEARCH_COMPLETED = "search.completed"
    SEARCH_STOPPED = "search.stopped"
    PING = "ping"


SUBSCRIBABLE_EVENTS = tuple(e for e in WebhookEvent if e != WebhookEvent.PING)
# the event of each final status a user is told of (a pruned trial is its search's business)
RUN_EVENTS: dict[RunStatus, WebhookEvent] = {
    RunStatus.SUCCEEDED: WebhookEvent.RUN_SUCCEEDED, RunStatus.FAILED: WebhookEvent.RUN_FAILED,
    RunStatus.CANCELLED: WebhookEvent.RUN_CANCELLED, RunStatus.TIMED_OUT: WebhookEvent.RUN_TIMED_OUT,
}
SEARCH_EVENTS: dict[SearchStatus, WebhookEvent] = {
    SearchStatus.COMPLETED: WebhookEvent.SEARCH_COMPLETED, SearchStatus.STOPPED: WebhookEvent.SEARCH_STOPPED,
}


def sql_in(column: str, values: type[StrEnum] | tuple[StrEnum, ...]) -> str:
    """``status IN ('queued', ...)`` for a CHECK constraint."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def vocabulary() -> dict[str, list[str]]:
    """Every enumerated word, as the pages (``data-*`` on each body, read by common.js) and the
    client (``GET /api/vocabulary``) are handed them: nothing outside this module lists them."""
    return {
        "run_statuses": [str(s) for s in RunStatus],
        "active_run_statuses": [str(s) for s in ACTIVE_STATUSES],
        "finished_run_statuses": [str(s) for s in FINISHED_STATUSES],
        "trained_run_statuses": [str(s) for s in TRAINED_STATUSES],
        "search_statuses": [str(s) for s in SearchStatus],
        "trial_states": [str(s) for s in TrialState],
        "model_statuses": [str(s) for s in ModelStatus],
        "checkpoint_kinds": [str(s) for s in CheckpointKind],
        "roles": [str(s) for s in Role],
        "token_kinds": [str(s) for s in TokenKind],
        "selected_on": [str(s) for s in SelectedOn],
        "delivery_statuses": [str(s) for s in DeliveryStatus],
        "webhook_events": [str(s) for s in SUBSCRIBABLE_EVENTS],
        "retention_keeps": [str(s) for s in RetentionKeep],
    }
