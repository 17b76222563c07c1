"""identity: users, browser sessions, API tokens, audit events; owners by foreign key, run leases

Each distinct free-text owner of existing runs, sweeps, studies and launches becomes a user
(without a password: it cannot sign in until an admin sets one); shipped studies belong to the
system user. Downgrading writes the usernames back as free text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SYSTEM_USERNAME = "cnnlab"  # backend.core.tables.SYSTEM_USERNAME, as it was when this ran
LOCAL_USERNAME = "local"  # backend.core.tables.LOCAL_USERNAME
OWNED = ("runs", "sweeps", "studies", "study_launches")


def _create_tables() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'member')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('user', 'worker')", name="ck_api_tokens_kind"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_target", "audit_events", ["target_type", "target_id"])


def _users_for_owners(conn) -> dict[str, int]:
    """One user per owner spelling, case-insensitively: {'Ada': id, 'ada': same id, ...}."""
    owners: set[str] = set()
    for table in OWNED:
        where = " WHERE slug IS NULL" if table == "studies" else ""
        owners |= {row[0] for row in conn.execute(sa.text(f"SELECT DISTINCT owner FROM {table}{where}"))}
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String),
                     sa.column("display_name", sa.String), sa.column("role", sa.String),
                     sa.column("active", sa.Boolean), sa.column("created_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    for owner in sorted(owners | {SYSTEM_USERNAME}):
        username = (owner.strip() or "anonymous").lower()[:100]
        if username == LOCAL_USERNAME:  # the local admin of laptops is not a carried-over person
            username = f"{LOCAL_USERNAME}-owner"
        existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
        if existing is None:
            conn.execute(users.insert().values(username=username, display_name=owner.strip() or "anonymous",
                                               role="member", active=True, created_at=now))
            existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
        ids[owner] = existing
    return ids


def upgrade() -> None:
    _create_tables()
    conn = op.get_bind()
    ids = _users_for_owners(conn)
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        for owner, user_id in ids.items():
            conn.execute(sa.text(f"UPDATE {table} SET owner_id = :id WHERE owner = :owner"),
                         {"id": user_id, "owner": owner})
    conn.execute(sa.text("UPDATE studies SET owner_id = :id WHERE slug IS NOT NULL"), {"id": ids[SYSTEM_USERNAME]})
    op.drop_index("ix_runs_owner_created", table_name="runs")
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
            batch.create_foreign_key(f"fk_{table}_owner_id_users", "users", ["owner_id"], ["id"])
            batch.drop_column("owner")
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lease_hash", sa.String(length=64), nullable=True))
        batch.create_foreign_key("fk_runs_cancelled_by_id_users", "users", ["cancelled_by_id"], ["id"],
                                 ondelete="SET NULL")
    op.create_index("ix_runs_owner_created", "runs", ["owner_id", "created_at"])


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_index("ix_runs_owner_created", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_cancelled_by_id_users", type_="foreignkey")
        batch.drop_column("lease_hash")
        batch.drop_column("cancelled_by_id")
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner", sa.String(length=100), nullable=True))
        conn.execute(sa.text(f"UPDATE {table} SET owner = "
                             f"(SELECT username FROM users WHERE users.id = {table}.owner_id)"))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("owner", existing_type=sa.String(length=100), nullable=False)
            batch.drop_constraint(f"fk_{table}_owner_id_users", type_="foreignkey")
            batch.drop_column("owner_id")
    op.create_index("ix_runs_owner_created", "runs", ["owner", "created_at"])
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_api_tokens_user", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_user_sessions_user", table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_table("users")
