"""The shared worker credential, read (or made once) without the database: the backend checks it
and every worker sends it, so this module imports no SQLAlchemy and no web framework — a GPU
worker loads it to read a token file, nothing more."""

from __future__ import annotations

import os
from pathlib import Path

from backend.core.settings import settings
from backend.identity.secrets import new_secret


def worker_token_file() -> Path:
    return Path(settings.VAR_DIR) / "worker-token"


def worker_credential() -> str:
    """The shared worker credential: CNNLAB_WORKER_TOKEN, else the one kept under the var folder
    (made on first use, readable by this user only), which a laptop's backend and worker share."""
    if settings.WORKER_TOKEN:
        return settings.WORKER_TOKEN
    path = worker_token_file()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(new_secret() + "\n")
        return path.read_text().strip()
