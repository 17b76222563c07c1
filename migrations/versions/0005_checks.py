"""checks: epoch >= 1, accuracies in [0, 1], checkpoint kind, attempt >= 0; run ids never reused on SQLite

Rows written before these bounds existed are brought inside them first (accuracies clamped to
[0, 1], epochs below 1 and unknown checkpoint kinds removed, negative attempts set to 0), so the
constraints can be added to any database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _clamp(column: str) -> str:
    return f"{column} = CASE WHEN {column} < 0 THEN 0 WHEN {column} > 1 THEN 1 ELSE {column} END"


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM epoch_metrics WHERE epoch < 1"))
    conn.execute(sa.text(f"UPDATE epoch_metrics SET {_clamp('train_acc')}, {_clamp('test_acc')}"))
    conn.execute(sa.text("DELETE FROM checkpoints WHERE kind NOT IN ('best', 'last')"))
    conn.execute(sa.text("UPDATE runs SET attempt = 0 WHERE attempt < 0"))
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.create_check_constraint("ck_epoch_metrics_epoch", "epoch >= 1")
        batch.create_check_constraint("ck_epoch_metrics_accuracy",
                                      "train_acc >= 0 AND train_acc <= 1 AND test_acc >= 0 AND test_acc <= 1")
    with op.batch_alter_table("checkpoints") as batch:
        batch.create_check_constraint("ck_checkpoints_kind", "kind IN ('best', 'last')")
    # on SQLite the table is rebuilt with AUTOINCREMENT: ids of deleted runs are never handed out again
    with op.batch_alter_table("runs", recreate="always" if conn.dialect.name == "sqlite" else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.create_check_constraint("ck_runs_attempt", "attempt >= 0")


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("runs", recreate="always" if conn.dialect.name == "sqlite" else "auto",
                              table_kwargs={"sqlite_autoincrement": False}) as batch:
        batch.drop_constraint("ck_runs_attempt", type_="check")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_constraint("ck_checkpoints_kind", type_="check")
    with op.batch_alter_table("epoch_metrics") as batch:
        batch.drop_constraint("ck_epoch_metrics_accuracy", type_="check")
        batch.drop_constraint("ck_epoch_metrics_epoch", type_="check")
