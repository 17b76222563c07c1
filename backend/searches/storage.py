"""Optuna's storage in the lab's own database, so any backend process can carry a search on.

Optuna keeps its own tables (``studies``, ``trials``, …, and an ``alembic_version`` of its own);
two of those names are ours too. On PostgreSQL they live in the schema ``optuna`` of the lab's
database (made by migration 0008; Optuna makes its tables there on first use). SQLite has no
schemas: there they live in a sibling file of the lab's database (``cnnlab.db`` →
``cnnlab-optuna.db``), in the same folder and backed up with it.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from backend.core.settings import settings

SCHEMA = "optuna"
optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna").setLevel(logging.WARNING)


def optuna_url(database_url: str) -> tuple[str, dict[str, object]]:
    """Optuna's database URL and engine arguments for the lab's database URL."""
    if database_url.startswith("sqlite"):
        if "///" not in database_url or database_url.endswith(":memory:"):
            return "sqlite://", {}  # an in-memory lab database: Optuna's in memory too
        path = Path(database_url.split("///", 1)[1])
        return (f"sqlite:///{path.with_name(f'{path.stem}-optuna{path.suffix}')}",
                {"connect_args": {"timeout": 30}})
    return database_url, {"connect_args": {"options": f"-c search_path={SCHEMA}"}, "pool_pre_ping": True}


@functools.cache
def storage() -> RDBStorage:
    url, engine_kwargs = optuna_url(settings.DATABASE_URL)
    return RDBStorage(url, engine_kwargs=engine_kwargs)
