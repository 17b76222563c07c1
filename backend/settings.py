"""One settings object, read from the environment (prefix CNNLAB_), shared by backend and worker.

The embedded default needs no variables at all: SQLite file, SQLAlchemy-transport broker on a
SQLite file, everything under ./var. Lab mode sets CNNLAB_DATABASE_URL (PostgreSQL) and
CNNLAB_BROKER_URL (Redis).
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CNNLAB_", extra="ignore")

    VAR_DIR: Path = Path("var")
    DATA_DIR: Path = Path("data")
    CIFAR10: str = "data/cifar10"  # a torchvision folder, an image-folder tree or a .tar.gz of one
    CACHE_DIR: Path = Path("var/cache")  # decoded datasets as uint8 .npz
    CHECKPOINT_DIR: Path = Path("var/checkpoints")

    PARAM_BUDGET: int = 256_000  # trainable parameters
    TIME_BUDGET_S: float = 3600.0  # seconds of training per run

    DATABASE_URL: str = "sqlite:///var/cnnlab.db"
    BROKER_URL: str = "sqla+sqlite:///var/broker.db"
    BACKEND_URL: str = "http://127.0.0.1:8000"  # where workers report


settings = Settings()
