"""searches.winner_group_id, searches.baseline_group_id: "Train the winner" (issue 33) — the search's
best and the lab's best preset trained side by side with paired seeds, one group of repeats each

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("winner_group_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("baseline_group_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_searches_winner_group", "run_groups", ["winner_group_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_foreign_key("fk_searches_baseline_group", "run_groups", ["baseline_group_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_constraint("fk_searches_baseline_group", type_="foreignkey")
        batch.drop_constraint("fk_searches_winner_group", type_="foreignkey")
        batch.drop_column("baseline_group_id")
        batch.drop_column("winner_group_id")
