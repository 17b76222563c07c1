"""validation and groups: epochs gain val_loss, val_acc and the fraction trained; runs gain what
chose their best epoch (selected_on), their holdout, the validation-chosen headline figures and
a group (runs of one config repeated with several seeds); a study entry may have several runs
per launch (repeat); a sweep point may be repeated

Every run recorded before this revision chose its best epoch on the test set: it is marked
``selected_on = 'test'`` with a holdout of 0, its headline (test_acc_at_best_val: test accuracy
at the chosen epoch) is its best test accuracy, and its final test accuracy the last epoch's.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _batch(conn: sa.Connection, table: str, **kwargs):  # type: ignore[no-untyped-def]
    return op.batch_alter_table(table, recreate="always" if conn.dialect.name == "sqlite" else "auto", **kwargs)


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "run_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("seeds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with _batch(conn, "runs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("selected_on", sa.String(8), nullable=False, server_default="test"))
        batch.add_column(sa.Column("holdout", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("best_val_acc", sa.Float(), nullable=True))
        batch.add_column(sa.Column("test_acc_at_best_val", sa.Float(), nullable=True))
        batch.add_column(sa.Column("final_test_acc", sa.Float(), nullable=True))
        batch.create_foreign_key("fk_runs_group", "run_groups", ["group_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_runs_group", ["group_id"])
        batch.create_index("ix_runs_test_acc_at_best_val", ["test_acc_at_best_val"])
        batch.create_check_constraint("ck_runs_selected_on", "selected_on IN ('val', 'test')")
    conn.execute(sa.text("UPDATE runs SET test_acc_at_best_val = best_test_acc, final_test_acc = last_test_acc"))
    _hold_out_nothing_in_older_configs(conn)
    with _batch(conn, "epoch_metrics") as batch:
        batch.add_column(sa.Column("val_loss", sa.Float(), nullable=True))
        batch.add_column(sa.Column("val_acc", sa.Float(), nullable=True))
        batch.add_column(sa.Column("fraction", sa.Float(), nullable=False, server_default="1"))
        batch.create_check_constraint("ck_epoch_metrics_val", "val_acc IS NULL OR (val_acc >= 0 AND val_acc <= 1)")
        batch.create_check_constraint("ck_epoch_metrics_fraction", "fraction > 0 AND fraction <= 1")
    with _batch(conn, "study_launch_runs") as batch:
        batch.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        if conn.dialect.name == "postgresql":
            batch.drop_constraint("study_launch_runs_pkey", type_="primary")
        batch.create_primary_key("study_launch_runs_pkey", ["launch_id", "entry_key", "repeat"])
    with _batch(conn, "sweeps") as batch:
        batch.add_column(sa.Column("repeats", sa.Integer(), nullable=False, server_default="1"))


def _hold_out_nothing_in_older_configs(conn: sa.Connection) -> None:
    """Each older run's config says what it was: no validation split (``data.holdout: 0``), so a run
    still queued at the upgrade trains as it was asked, and "run again" repeats it faithfully (a
    config without the key would read the new default, 5,000)."""
    runs = sa.table("runs", sa.column("id", sa.Integer()), sa.column("config", sa.JSON()))
    for run_id, config in conn.execute(sa.select(runs.c.id, runs.c.config)).all():
        if isinstance(config, dict) and "holdout" not in (config.get("data") or {}):
            config = {**config, "data": {**(config.get("data") or {}), "holdout": 0}}
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(config=config))


def downgrade() -> None:
    conn = op.get_bind()
    with _batch(conn, "sweeps") as batch:
        batch.drop_column("repeats")
    conn.execute(sa.text('DELETE FROM study_launch_runs WHERE "repeat" > 0'))
    with _batch(conn, "study_launch_runs") as batch:
        if conn.dialect.name == "postgresql":
            batch.drop_constraint("study_launch_runs_pkey", type_="primary")
        batch.drop_column("repeat")
        batch.create_primary_key("study_launch_runs_pkey", ["launch_id", "entry_key"])
    with _batch(conn, "epoch_metrics") as batch:
        batch.drop_constraint("ck_epoch_metrics_fraction", type_="check")
        batch.drop_constraint("ck_epoch_metrics_val", type_="check")
        batch.drop_column("fraction")
        batch.drop_column("val_acc")
        batch.drop_column("val_loss")
    with _batch(conn, "runs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("ck_runs_selected_on", type_="check")
        batch.drop_index("ix_runs_test_acc_at_best_val")
        batch.drop_index("ix_runs_group")
        batch.drop_constraint("fk_runs_group", type_="foreignkey")
        for column in ("final_test_acc", "test_acc_at_best_val", "best_val_acc", "holdout", "selected_on", "group_id"):
            batch.drop_column(column)
    op.drop_table("run_groups")
