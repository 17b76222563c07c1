"""Alembic upgrade head then downgrade base, on SQLite and on PostgreSQL; the migrated schema
equals the models'."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from backend.migrate import downgrade, upgrade
from backend.models import Base
from tests.utils.services import postgres_database

TABLES = {"runs", "epoch_metrics", "sweeps", "checkpoints", "run_evaluations"}


def check_both_ways(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == [], diff  # models and migrations agree
            # the status CHECK is in the database itself
            with pytest.raises(Exception, match="ck_runs_status|CHECK"):
                conn.execute(text(
                    "INSERT INTO runs (name, owner, status, config, architecture, params, macs, seed, epochs, "
                    "created_at, attempt, cancel_requested, epochs_done, train_seconds) VALUES "
                    "('x', 'y', 'sleeping', '{}', 'a', 1, 1, 0, 1, CURRENT_TIMESTAMP, 0, false, 0, 0)"))
        downgrade(url)
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(url)  # and up again on the emptied database
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_both_ways_on_sqlite(tmp_path) -> None:
    check_both_ways(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.integration
def test_migrations_both_ways_on_postgresql() -> None:
    with postgres_database() as url:
        check_both_ways(url)
