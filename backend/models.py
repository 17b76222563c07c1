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

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled", "timed_out")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), default="anonymous")
    base_config: Mapped[dict[str, Any]]
    grid: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    runs: Mapped[list[Run]] = relationship(back_populates="sweep")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')",
            name="ck_runs_status",
        ),
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_owner_created", "owner", "created_at"),
        Index("ix_runs_sweep", "sweep_id"),
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_best_test_acc", "best_test_acc"),
        Index("ix_runs_heartbeat", "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), default="anonymous")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    config: Mapped[dict[str, Any]]
    architecture: Mapped[str] = mapped_column(String(64))
    params: Mapped[int] = mapped_column(Integer)
    macs: Mapped[int] = mapped_column(BigInteger)
    seed: Mapped[int] = mapped_column(Integer)
    epochs: Mapped[int] = mapped_column(Integer)  # planned
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # bumped at every (re)start
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_host: Mapped[str | None] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)  # why it stopped, or the error
    elapsed_s: Mapped[float | None] = mapped_column(Float)  # seconds of training

    # summary columns, kept up to date as epochs are recorded
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    best_test_acc: Mapped[float | None] = mapped_column(Float)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    last_train_loss: Mapped[float | None] = mapped_column(Float)
    last_train_acc: Mapped[float | None] = mapped_column(Float)
    last_test_loss: Mapped[float | None] = mapped_column(Float)
    last_test_acc: Mapped[float | None] = mapped_column(Float)
    last_lr: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # sum of epoch seconds

    sweep: Mapped[Sweep | None] = relationship(back_populates="runs")
    checkpoints: Mapped[list[Checkpoint]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    __table_args__ = (UniqueConstraint("run_id", "epoch", name="uq_epoch_metrics_run_epoch"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float] = mapped_column(Float)
    train_acc: Mapped[float] = mapped_column(Float)
    test_loss: Mapped[float] = mapped_column(Float)
    test_acc: Mapped[float] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("run_id", "kind", name="uq_checkpoints_run_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # best | last
    epoch: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
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
    owner: Mapped[str] = mapped_column(String(100), default="anonymous")
    description: Mapped[str] = mapped_column(Text, default="")
    entries: Mapped[list[Any]] = mapped_column(JSON)
    claims: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    launches: Mapped[list[StudyLaunch]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True, order_by="StudyLaunch.id"
    )


class StudyLaunch(Base):
    """One launch of a study: its runs, one per entry key, how the epochs were scaled, and the
    entries and claims as they were at launch (its report reads these, so a later edit of the
    study, or of a shipped study's definition, does not rewrite an old report)."""

    __tablename__ = "study_launches"
    __table_args__ = (Index("ix_study_launches_study", "study_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(100), default="anonymous")
    epochs_scale: Mapped[float] = mapped_column(Float, default=1.0)
    data_override: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    entries: Mapped[list[Any]] = mapped_column(JSON)
    claims: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="launches")
    runs: Mapped[list[StudyLaunchRun]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class StudyLaunchRun(Base):
    __tablename__ = "study_launch_runs"
    __table_args__ = (Index("ix_study_launch_runs_run", "run_id"),)

    launch_id: Mapped[int] = mapped_column(ForeignKey("study_launches.id", ondelete="CASCADE"), primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))  # None: run deleted
