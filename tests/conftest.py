"""Test settings: every test session gets its own var folder, SQLite database and broker file.

The environment is set before anything imports backend.settings. Tests that need PostgreSQL,
Redis or Chromium use tests.utils.services.require(), which skips with a reason on a laptop that
lacks them and fails in CI (CI=true).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_VAR = Path(tempfile.mkdtemp(prefix="cnnlab-tests-"))
os.environ["CNNLAB_VAR_DIR"] = str(_VAR)
os.environ["CNNLAB_DATABASE_URL"] = f"sqlite:///{_VAR / 'api.db'}"
os.environ["CNNLAB_BROKER_URL"] = f"sqla+sqlite:///{_VAR / 'broker.db'}"
os.environ["CNNLAB_QUEUE"] = "cnnlab-inprocess-tests"

import pytest  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def var_dir() -> Path:
    return _VAR


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
