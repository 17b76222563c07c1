"""searches: budget-aware searches, their trials' runs (search, trial number, prune request) and
the run status 'pruned'; on PostgreSQL the schema 'optuna' that holds Optuna's own tables

Optuna keeps its trials in its own tables (``studies``, ``trials``, … and its own alembic
version), two of whose names are ours too. On PostgreSQL they live in the schema ``optuna`` of
the lab's database (created here; Optuna creates its tables there on first use); SQLite has no
schemas, so there they live in a sibling file in the same folder (backend.searches.storage).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')"
NEW = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'pruned')"


def _runs_batch(conn: sa.Connection):  # type: ignore[no-untyped-def]
    return op.batch_alter_table("runs", recreate="always" if conn.dialect.name == "sqlite" else "auto",
                                table_kwargs={"sqlite_autoincrement": True})


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS optuna"))
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("optuna_name", sa.String(100), nullable=False, unique=True),
        sa.Column("infeasible", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'stopped', 'completed')", name="ck_searches_status"),
    )
    with _runs_batch(conn) as batch:
        batch.add_column(sa.Column("search_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prune_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_foreign_key("fk_runs_search", "searches", ["search_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_runs_search", ["search_id", "trial_number"])
        batch.drop_constraint("ck_runs_status", type_="check")
        batch.create_check_constraint("ck_runs_status", NEW)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE runs SET status = 'cancelled' WHERE status = 'pruned'"))
    with _runs_batch(conn) as batch:
        batch.drop_constraint("ck_runs_status", type_="check")
        batch.create_check_constraint("ck_runs_status", OLD)
        batch.drop_index("ix_runs_search")
        batch.drop_constraint("fk_runs_search", type_="foreignkey")
        batch.drop_column("prune_requested")
        batch.drop_column("trial_number")
        batch.drop_column("search_id")
    op.drop_table("searches")
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP SCHEMA IF EXISTS optuna CASCADE"))
