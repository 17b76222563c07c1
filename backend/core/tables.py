"""SQLAlchemy 2 typed models. The schema changes only through Alembic (migrations/).

Built for 10,000 runs of 200 epochs: the run row carries summary columns (best test accuracy and
its epoch, the last epoch's metrics) updated as each epoch is recorded, so the run list and a
compare read those and the (run_id, epoch)-indexed series, never an aggregate over metric rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.core.statuses import (
    CheckpointKind,
    DeliveryStatus,
    ModelStatus,
    Role,
    RunStatus,
    SearchStatus,
    SelectedOn,
    TokenKind,
    sql_in,
)

SYSTEM_USERNAME = "cnnlab"  # owns the shipped studies; cannot sign in
LOCAL_USERNAME = "local"  # the one admin of local mode (CNNLAB_AUTH=local); cannot sign in


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    """A lab member. ``username`` is stored lower-case (unique, so case-insensitive); the display
    name keeps the spelling people chose. A user without a password hash cannot sign in (users
    carried over from free-text owners, the system and local users) until an admin sets one."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(sql_in("role", Role), name="ck_users_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(8), default=Role.MEMBER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    storage_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: no quota on artefacts

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_sign_in(self) -> bool:
        return self.active and self.password_hash is not None


class UserSession(Base):
    """A browser's sign-in: the cookie holds a random secret, the database only its SHA-256.
    Deleting the row ends the session on the next request."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A script's personal token (kind 'user') or a worker's credential issued by an admin (kind
    'worker', no user). Shown once; stored as its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(sql_in("kind", TokenKind), name="ck_api_tokens_kind"),
        Index("ix_api_tokens_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default=TokenKind.USER)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise it in a list
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")


class AuditEvent(Base):
    """Who did what, when: cancels, deletes, role changes, deactivations, token revocations…"""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship(lazy="joined")

    @property
    def actor_name(self) -> str | None:
        return self.actor.username if self.actor else None


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    base_config: Mapped[dict[str, Any]]
    grid: Mapped[dict[str, Any]]
    repeats: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # seeds per grid point
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)  # Markdown, rendered as text formatting only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    runs: Mapped[list[Run]] = relationship(back_populates="sweep")
    owner: Mapped[User] = relationship(lazy="joined")


class RunGroup(Base):
    """Runs of one config repeated with several seeds (``repeats``), admitted together; shown as
    mean ± spread and compared with another group seed by seed (backend.runs.uncertainty)."""

    __tablename__ = "run_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seeds: Mapped[list[Any]] = mapped_column(JSON)  # as asked, in order
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")

    @property
    def owner_name(self) -> str:
        return self.owner.username


class Search(Base):
    """A budget-aware search (backend.searches): its space in run-option names, its objectives,
    sampler and pruner. The trials live in Optuna's storage (study ``optuna_name``, in the lab's
    database); each trial trains as an ordinary run carrying ``search_id`` and ``trial_number``."""

    __tablename__ = "searches"
    __table_args__ = (CheckConstraint(sql_in("status", SearchStatus), name="ck_searches_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=SearchStatus.RUNNING)
    spec: Mapped[dict[str, Any]]  # schemas.SearchCreate as given (base config, space, objectives, …)
    optuna_name: Mapped[str] = mapped_column(String(100), unique=True)
    infeasible: Mapped[int] = mapped_column(Integer, default=0)  # samples over the budget, never queued
    note: Mapped[str | None] = mapped_column(Text)  # why it waits or ended early (the system's words)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    user_note: Mapped[str | None] = mapped_column(Text)  # the owner's Markdown note
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # "Train the winner": its best and the lab's best preset, side by side with paired seeds (0013)
    winner_group_id: Mapped[int | None] = mapped_column(ForeignKey("run_groups.id", ondelete="SET NULL",
                                                                   name="fk_searches_winner_group"))
    baseline_group_id: Mapped[int | None] = mapped_column(ForeignKey("run_groups.id", ondelete="SET NULL",
                                                                     name="fk_searches_baseline_group"))

    owner: Mapped[User] = relationship(lazy="joined")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(sql_in("status", RunStatus), name="ck_runs_status"),
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_owner_created", "owner_id", "created_at"),
        Index("ix_runs_sweep", "sweep_id"),
        Index("ix_runs_search", "search_id", "trial_number"),
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_best_test_acc", "best_test_acc"),
        Index("ix_runs_heartbeat", "status", "heartbeat_at"),
        Index("ix_runs_group", "group_id"),
        Index("ix_runs_test_acc_at_best_val", "test_acc_at_best_val"),
        Index("ix_runs_params", "params"),  # the runs query's common filters (0011)
        Index("ix_runs_architecture", "architecture"),
        Index("ix_runs_best_val_acc", "best_val_acc"),
        CheckConstraint("attempt >= 0", name="ck_runs_attempt"),
        CheckConstraint(sql_in("selected_on", SelectedOn), name="ck_runs_selected_on"),
        {"sqlite_autoincrement": True},  # a deleted run's id is never given to another
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    config: Mapped[dict[str, Any]]
    architecture: Mapped[str] = mapped_column(String(64))
    params: Mapped[int] = mapped_column(Integer)
    macs: Mapped[int] = mapped_column(BigInteger)
    seed: Mapped[int] = mapped_column(Integer)
    epochs: Mapped[int] = mapped_column(Integer)  # planned
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"))
    search_id: Mapped[int | None] = mapped_column(ForeignKey("searches.id", ondelete="SET NULL"))
    trial_number: Mapped[int | None] = mapped_column(Integer)  # its trial in the search's Optuna study
    # a search by time rungs: the rung this run trained its trial's config at (0: the trial's own run;
    # 1, 2…: a promotion, a fresh run at that rung's budget); None outside such searches
    rung: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("run_groups.id", ondelete="SET NULL",
                                                            name="fk_runs_group"))
    holdout: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # validation images (config)
    selected_on: Mapped[str] = mapped_column(String(8), default=SelectedOn.TEST, server_default="test")
    note: Mapped[str | None] = mapped_column(Text)  # the owner's Markdown note (tags: RunTag)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # bumped at every (re)start
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    prune_requested: Mapped[bool] = mapped_column(Boolean, default=False)  # its search's pruner said stop
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lease_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the running attempt's lease
    worker_host: Mapped[str | None] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)  # why it stopped, or the error
    elapsed_s: Mapped[float | None] = mapped_column(Float)  # seconds of training
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # schemas.Progress of the last heartbeat

    # summary columns, kept up to date as epochs are recorded
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    best_test_acc: Mapped[float | None] = mapped_column(Float)  # max over epochs: reported, never a choice
    best_epoch: Mapped[int | None] = mapped_column(Integer)  # the chosen epoch (on selected_on)
    best_val_acc: Mapped[float | None] = mapped_column(Float)  # the chosen epoch's validation accuracy
    test_acc_at_best_val: Mapped[float | None] = mapped_column(Float)  # the headline: the chosen epoch's test acc
    final_test_acc: Mapped[float | None] = mapped_column(Float)  # the last epoch's
    last_train_loss: Mapped[float | None] = mapped_column(Float)
    last_train_acc: Mapped[float | None] = mapped_column(Float)
    last_test_loss: Mapped[float | None] = mapped_column(Float)
    last_test_acc: Mapped[float | None] = mapped_column(Float)
    last_lr: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # sum of epoch seconds

    sweep: Mapped[Sweep | None] = relationship(back_populates="runs")
    owner: Mapped[User] = relationship(foreign_keys=[owner_id], lazy="joined")
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id], lazy="joined")

    @property
    def owner_name(self) -> str:
        return self.owner.username

    @property
    def cancelled_by_name(self) -> str | None:
        return self.cancelled_by.username if self.cancelled_by else None
    checkpoints: Mapped[list[Checkpoint]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    tag_rows: Mapped[list[RunTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                  lazy="selectin", order_by="RunTag.tag")

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    __table_args__ = (
        UniqueConstraint("run_id", "epoch", name="uq_epoch_metrics_run_epoch"),
        CheckConstraint("epoch >= 1", name="ck_epoch_metrics_epoch"),
        CheckConstraint("train_acc >= 0 AND train_acc <= 1 AND test_acc >= 0 AND test_acc <= 1",
                        name="ck_epoch_metrics_accuracy"),
        CheckConstraint("val_acc IS NULL OR (val_acc >= 0 AND val_acc <= 1)", name="ck_epoch_metrics_val"),
        CheckConstraint("fraction > 0 AND fraction <= 1", name="ck_epoch_metrics_fraction"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float] = mapped_column(Float)
    train_acc: Mapped[float] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)  # None: the run reads the test set only at its end
    test_acc: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)  # None: the run holds out no validation images
    val_acc: Mapped[float | None] = mapped_column(Float)
    fraction: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")  # < 1: cut by the time budget
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (
        UniqueConstraint("run_id", "kind", name="uq_checkpoints_run_kind"),
        CheckConstraint(sql_in("kind", CheckpointKind), name="ck_checkpoints_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # best | last
    epoch: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunModel(Base):
    """A run's exported classifier (worker.export): the ONNX file once it passed its parity check,
    or why the export failed (the run stays succeeded either way), or an export asked for after the
    run ended ("exporting", with the lease of the worker doing it). One per run."""

    __tablename__ = "run_models"
    __table_args__ = (CheckConstraint(sql_in("status", ModelStatus), name="ck_run_models_status"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # exporting | ready | failed
    reason: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int | None] = mapped_column(Integer)  # the epoch whose weights it holds (the best)
    lease_hash: Mapped[str | None] = mapped_column(String(64))  # an export asked for later: its worker's lease
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunEvaluation(Base):
    """The best weights' test set, class by class (worker.evaluation.class_report), one per run."""

    __tablename__ = "run_evaluations"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Study(Base):
    """A named, saved set of run configs ("entries") with the claims its report checks.

    Shipped studies carry a slug and are kept equal to their definition in backend.studies.catalog;
    users' studies have none. Each launch of a study makes one run per entry (StudyLaunch).
    """

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    entries: Mapped[list[Any]] = mapped_column(JSON)
    claims: Mapped[list[Any]] = mapped_column(JSON)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)  # Markdown, rendered as text formatting only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    launches: Mapped[list[StudyLaunch]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True, order_by="StudyLaunch.id"
    )
    owner: Mapped[User] = relationship(lazy="joined")


class StudyLaunch(Base):
    """One launch of a study: its runs, one per entry key, how the epochs were scaled, and the
    entries and claims as they were at launch (its report reads these, so a later edit of the
    study, or of a shipped study's definition, does not rewrite an old report)."""

    __tablename__ = "study_launches"
    __table_args__ = (Index("ix_study_launches_study", "study_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    epochs_scale: Mapped[float] = mapped_column(Float, default=1.0)
    data_override: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    entries: Mapped[list[Any]] = mapped_column(JSON)
    claims: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="launches")
    owner: Mapped[User] = relationship(lazy="joined")
    runs: Mapped[list[StudyLaunchRun]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class StudyLaunchRun(Base):
    __tablename__ = "study_launch_runs"
    __table_args__ = (Index("ix_study_launch_runs_run", "run_id"),)

    launch_id: Mapped[int] = mapped_column(ForeignKey("study_launches.id", ondelete="CASCADE"), primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    repeat: Mapped[int] = mapped_column(Integer, primary_key=True, default=0, server_default="0")  # its seed's place
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))  # None: run deleted


class RunTag(Base):
    """A short label on a run (many per run); the runs query's ``tag:`` reads this table."""

    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_tag", "tag", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)


class RunStar(Base):
    """A member's star on a run (stars are per user)."""

    __tablename__ = "run_stars"
    __table_args__ = (Index("ix_run_stars_run", "run_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedView(Base):
    """A runs-list view saved by name, per user: its query, chosen columns and sort."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(Text, default="")
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sort: Mapped[str] = mapped_column(String(100), default="-created_at")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A user's webhook: events POSTed as signed JSON (HMAC-SHA256 with ``secret``) to ``url``, a
    host on the admin's allowlist (CNNLAB_WEBHOOK_ALLOWED_HOSTS)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))  # needed to sign, so kept; shown once at creation
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class WebhookDelivery(Base):
    """One event for one webhook: attempted until a 2xx or its retries run out (back-off)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(sql_in("status", DeliveryStatus), name="ck_webhook_deliveries_status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class SystemSample(Base):
    """The worker's system metrics during a run (reported with its heartbeat), downsampled beyond a
    bound per run: CPU use, the process's memory, on CUDA the GPU's utilisation and memory."""

    __tablename__ = "system_samples"
    __table_args__ = (Index("ix_system_samples_run", "run_id", "at_s"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    at_s: Mapped[float] = mapped_column(Float)  # seconds since the attempt started training
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    gpu_util: Mapped[float | None] = mapped_column(Float)  # percent
    gpu_mem_bytes: Mapped[int | None] = mapped_column(BigInteger)
    images_per_s: Mapped[float | None] = mapped_column(Float)


class WorkerPresence(Base):
    """A worker process that said it is up (presence beats), what it trains and since when."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # host:device:pid, as the worker names itself
    host: Mapped[str] = mapped_column(String(200))
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    run_since: Mapped[datetime | None]
