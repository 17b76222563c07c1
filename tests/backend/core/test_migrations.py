"""Alembic upgrade head then downgrade base, on SQLite and on PostgreSQL; the migrated schema
equals the models'."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from backend.cli.migrate import downgrade, upgrade
from backend.core.tables import Base
from tests.utils.services import postgres_database

TABLES = {"runs", "epoch_metrics", "sweeps", "checkpoints", "run_evaluations", "users", "user_sessions", "api_tokens",
          "audit_events"}


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
                    "INSERT INTO runs (name, owner_id, status, config, architecture, params, macs, seed, epochs, "
                    "created_at, attempt, cancel_requested, epochs_done, train_seconds) VALUES "
                    "('x', (SELECT id FROM users LIMIT 1), 'sleeping', '{}', 'a', 1, 1, 0, 1, CURRENT_TIMESTAMP, "
                    "0, false, 0, 0)"))
        check_bounds(engine)
        downgrade(url)
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(url)  # and up again on the emptied database
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def check_bounds(engine) -> None:
    """The database itself refuses epochs below 1, accuracies outside [0, 1], unknown checkpoint
    kinds and negative attempts (0005)."""
    with engine.begin() as conn:
        conn.execute(text(RUN_ROW.replace("'succeeded'", "'queued'").replace(":owner", "(SELECT id FROM users LIMIT 1)")
                          .replace("owner,", "owner_id,")), {"name": "bounds"})
        run_id = conn.execute(text("SELECT max(id) FROM runs")).scalar()
    metric = ("INSERT INTO epoch_metrics (run_id, epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds, "
              "recorded_at) VALUES (:run, :epoch, 1, :acc, 1, 0.5, 0.1, 1, CURRENT_TIMESTAMP)")
    bad = [(metric, {"run": run_id, "epoch": 0, "acc": 0.5}), (metric, {"run": run_id, "epoch": 1, "acc": 1.5}),
           ("INSERT INTO checkpoints (run_id, kind, epoch, path, size_bytes, sha256, created_at) VALUES "
            "(:run, 'worst', 1, 'p', 1, 's', CURRENT_TIMESTAMP)", {"run": run_id}),
           ("UPDATE runs SET attempt = -1 WHERE id = :run", {"run": run_id})]
    for statement, params in bad:
        with pytest.raises(Exception, match="ck_|CHECK"), engine.begin() as conn:
            conn.execute(text(statement), params)
    with engine.begin() as conn:
        conn.execute(text(metric), {"run": run_id, "epoch": 1, "acc": 1.0})  # the bounds themselves pass
        conn.execute(text("DELETE FROM epoch_metrics WHERE run_id = :run"), {"run": run_id})
        conn.execute(text("DELETE FROM runs WHERE id = :run"), {"run": run_id})


RUN_ROW = ("INSERT INTO runs (name, owner, status, config, architecture, params, macs, seed, epochs, created_at, "
           "attempt, cancel_requested, epochs_done, train_seconds) VALUES "
           "(:name, :owner, 'succeeded', '{}', 'a', 1, 1, 0, 1, CURRENT_TIMESTAMP, 1, false, 0, 0)")


def check_owners_carried(url: str) -> None:
    """Free-text owners of 0003 become users (one per spelling, case-insensitively, without a
    password), shipped studies the system user's; downgrading writes the names back."""
    upgrade(url, "0003")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for name, owner in (("r1", "Ada"), ("r2", "ada"), ("r3", "bob"), ("r4", "anonymous")):
                conn.execute(text(RUN_ROW), {"name": name, "owner": owner})
            conn.execute(text("INSERT INTO sweeps (name, owner, base_config, grid, created_at) VALUES "
                              "('s', 'carol', '{}', '{}', CURRENT_TIMESTAMP)"))
            for slug, owner in (("shipped", "cnnlab"), (None, "dave")):
                conn.execute(text("INSERT INTO studies (slug, name, owner, description, entries, claims, created_at) "
                                  "VALUES (:slug, 'st', :owner, '', '[]', '[]', CURRENT_TIMESTAMP)"),
                             {"slug": slug, "owner": owner})
        upgrade(url)
        with engine.connect() as conn:
            users = {row.username: row for row in conn.execute(text("SELECT * FROM users"))}
            assert set(users) == {"ada", "bob", "anonymous", "carol", "dave", "cnnlab"}
            assert all(u.password_hash is None and u.role == "member" for u in users.values())  # none can sign in
            owners = dict(conn.execute(text("SELECT runs.name, users.username FROM runs "
                                            "JOIN users ON users.id = runs.owner_id")).all())
            assert owners == {"r1": "ada", "r2": "ada", "r3": "bob", "r4": "anonymous"}
            assert conn.execute(text("SELECT users.username FROM sweeps "
                                     "JOIN users ON users.id = sweeps.owner_id")).scalar() == "carol"
            studies = dict(conn.execute(text("SELECT studies.slug, users.username FROM studies "
                                             "JOIN users ON users.id = studies.owner_id")).all())
            assert studies == {"shipped": "cnnlab", None: "dave"}
        downgrade(url, "0003")
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT name, owner FROM runs")).all()) == \
                {"r1": "ada", "r2": "ada", "r3": "bob", "r4": "anonymous"}
            assert "users" not in inspect(engine).get_table_names()
        downgrade(url)
    finally:
        engine.dispose()


def test_migrations_both_ways_on_sqlite(tmp_path) -> None:
    check_both_ways(f"sqlite:///{tmp_path / 'm.db'}")


def test_migration_carries_free_text_owners_on_sqlite(tmp_path) -> None:
    check_owners_carried(f"sqlite:///{tmp_path / 'o.db'}")


@pytest.mark.integration
def test_migrations_both_ways_on_postgresql() -> None:
    with postgres_database() as url:
        check_both_ways(url)


@pytest.mark.integration
def test_migration_carries_free_text_owners_on_postgresql() -> None:
    with postgres_database() as url:
        check_owners_carried(url)


def check_older_runs_chosen_on_test(url: str) -> None:
    """0009: a run recorded before the validation split is marked chosen on test, its headline its
    best test accuracy and its final test accuracy its last epoch's; down and up again keeps it."""
    upgrade(url, "0008")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, display_name, role, active, created_at) VALUES "
                              "('old', 'old', 'member', true, CURRENT_TIMESTAMP)"))
            owner = "(SELECT id FROM users WHERE username = 'old')"
            conn.execute(text(RUN_ROW.replace(":owner", owner).replace("(name, owner,", "(name, owner_id,")
                              .replace("epochs_done, train_seconds)", "epochs_done, train_seconds, best_test_acc, "
                                                                     "last_test_acc)")
                              .replace("0, 0)", "2, 0, 0.71, 0.69)")), {"name": "before"})
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT selected_on, holdout, test_acc_at_best_val, final_test_acc, best_val_acc, "
                                    "config FROM runs WHERE name = 'before'")).one()
        assert tuple(row)[:5] == ("test", 0, 0.71, 0.69, None)
        config = row[5] if isinstance(row[5], dict) else json.loads(row[5])
        assert config == {"data": {"holdout": 0}}  # it trained, and would train again, on every training image
        downgrade(url, "0008")
        upgrade(url)
    finally:
        engine.dispose()


def test_older_runs_are_chosen_on_test_on_sqlite(tmp_path) -> None:
    check_older_runs_chosen_on_test(f"sqlite:///{tmp_path / 'v.db'}")


@pytest.mark.integration
def test_older_runs_are_chosen_on_test_on_postgresql() -> None:
    with postgres_database() as url:
        check_older_runs_chosen_on_test(url)
