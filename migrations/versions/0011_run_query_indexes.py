"""indexes for the runs query (backend.runs.query): parameters, architecture name, validation accuracy

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# the common filters and sorts not yet indexed: params<200k, architecture=compact, val_acc>=0.8 (the
# status, owner, created, headline, sweep, search, group, tag, star and study filters already are)
INDEXES = (("ix_runs_params", "params"), ("ix_runs_architecture", "architecture"),
           ("ix_runs_best_val_acc", "best_val_acc"))


def upgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "runs", [column])


def downgrade() -> None:
    for name, _column in INDEXES:
        op.drop_index(name, table_name="runs")
