"""epoch_metrics.test_loss, epoch_metrics.test_acc nullable: a run with test_each_epoch off (a search's trial,
issue 33) reads the test set once, at its end, so its epochs carry no test figure. The accuracy check
(``test_acc >= 0 AND test_acc <= 1``) already passes a NULL, as SQL checks do.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.alter_column("test_loss", existing_type=sa.Float(), nullable=True)
        batch.alter_column("test_acc", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    """Refused (an integrity error) while a run's epochs carry no test figure: delete those runs first."""
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.alter_column("test_acc", existing_type=sa.Float(), nullable=False)
        batch.alter_column("test_loss", existing_type=sa.Float(), nullable=False)
