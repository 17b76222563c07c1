"""the lab's daily work: run notes and tags, stars, saved views, webhooks and their deliveries,
system metrics, worker presence, tags and notes on sweeps, studies and searches, a storage quota
per user

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)
NOTES = (("sweeps", "note"), ("studies", "note"), ("searches", "user_note"))  # table, its user note's column


def upgrade() -> None:
    # plain ALTER TABLE ADD/DROP COLUMN (SQLite >= 3.35 has both): recreating ``users`` or ``runs``
    # on SQLite would trip the foreign keys that point at them
    op.add_column("runs", sa.Column("note", sa.Text(), nullable=True))
    for table, note in NOTES:
        op.add_column(table, sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        op.add_column(table, sa.Column(note, sa.Text(), nullable=True))
    op.add_column("users", sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(40), primary_key=True),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag", "run_id"])
    op.create_table(
        "run_stars",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_index("ix_run_stars_run", "run_stars", ["run_id"])
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("sort", sa.String(100), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_index("ix_webhooks_user", "webhooks", ["user_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", NOW, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("delivered_at", NOW, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])
    op.create_table(
        "system_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("rss_bytes", sa.BigInteger(), nullable=True),
        sa.Column("gpu_util", sa.Float(), nullable=True),
        sa.Column("gpu_mem_bytes", sa.BigInteger(), nullable=True),
        sa.Column("images_per_s", sa.Float(), nullable=True),
    )
    op.create_index("ix_system_samples_run", "system_samples", ["run_id", "at_s"])
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("last_seen_at", NOW, nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("run_since", NOW, nullable=True),
    )


def downgrade() -> None:
    for table in ("workers", "system_samples", "webhook_deliveries", "webhooks", "saved_views", "run_stars",
                  "run_tags"):
        op.drop_table(table)
    op.drop_column("users", "storage_quota_bytes")
    for table, note in NOTES:
        op.drop_column(table, note)
        op.drop_column(table, "tags")
    op.drop_column("runs", "note")
