"""Test settings: every test session gets its own var folder, SQLite database and broker file.

The environment is set before anything imports backend.core.settings. Tests that need PostgreSQL,
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
os.environ["CNNLAB_AUTH"] = "required"
os.environ["CNNLAB_WORKER_TOKEN"] = "cnw_test-worker-credential-0123456789abcdef"
os.environ["CNNLAB_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
os.environ["CNNLAB_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1:*"  # webhooks to the tests' local receivers (any port)

import pytest  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need a CUDA device. Without one they are skipped with that reason; in CI
    (CI=true), which never has a GPU, they are deselected instead of skipped — the one documented
    exception to "a skip fails in CI" (README: the GPU). benchmarks/device_check.py runs them on a lent GPU."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    if os.environ.get("CI", "").lower() == "true":
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]
        config.hook.pytest_deselected(items=gpu)
        return
    for item in gpu:
        item.add_marker(pytest.mark.skip(reason="no CUDA device here (marked gpu: benchmarks/device_check.py runs it)"))


@pytest.fixture(scope="session")
def var_dir() -> Path:
    return _VAR


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A tiny learnable 10-class image-folder dataset: the lab's "cifar10" in integration tests."""
    from tests.utils.datasets import make_arrays, write_image_folder

    return write_image_folder(tmp_path_factory.mktemp("data") / "tiny",
                              make_arrays(classes=10, train_per_class=40, test_per_class=10))


@pytest.fixture(scope="session")
def pg_url():
    from tests.utils.services import postgres_database

    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def lab(tmp_path_factory, pg_url, dataset):
    """Our backend on PostgreSQL + Redis, as a real process (workers are started per test)."""
    from tests.utils.services import Lab, require_redis

    require_redis()
    lab = Lab(tmp_path_factory.mktemp("lab"), pg_url, "redis://127.0.0.1:6379/0", dataset)
    lab.migrate()
    lab.start_backend()
    yield lab
    lab.close()


@pytest.fixture
def worker(lab):
    proc = lab.start_worker()
    yield proc
    lab.kill_workers()
