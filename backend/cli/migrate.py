"""`python -m backend.cli.migrate [upgrade head | downgrade base]` — Alembic against CNNLAB_DATABASE_URL."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "upgrade"
    revision = argv[1] if len(argv) > 1 else {"upgrade": "head", "downgrade": "base"}[action]
    {"upgrade": upgrade, "downgrade": downgrade}[action](None, revision)
    print(f"database {action} to {revision}: done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
