"""studies: saved sets of run configs, their launches and the runs of each launch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "study_launches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("epochs_scale", sa.Float(), nullable=False),
        sa.Column("data_override", sa.JSON(), nullable=True),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_study_launches_study", "study_launches", ["study_id"])
    op.create_table(
        "study_launch_runs",
        sa.Column("launch_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["launch_id"], ["study_launches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("launch_id", "entry_key"),
    )
    op.create_index("ix_study_launch_runs_run", "study_launch_runs", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_study_launch_runs_run", table_name="study_launch_runs")
    op.drop_table("study_launch_runs")
    op.drop_index("ix_study_launches_study", table_name="study_launches")
    op.drop_table("study_launches")
    op.drop_table("studies")
