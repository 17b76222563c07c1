"""A GPU worker loads the trainer, its Celery task and the backend's torch-free, SQL-free pieces
only: importing every module of ``worker`` (as ``celery -A worker.tasks``, ``worker.serve``,
``worker.train`` and the rest do) loads neither SQLAlchemy nor FastAPI. Checked in a fresh
interpreter, so nothing the test session imported before counts."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import worker
from tests.utils.services import ROOT

FORBIDDEN = ("sqlalchemy", "fastapi", "starlette")

PROBE = """
import importlib, json, pkgutil, sys
import worker
names = sorted(m.name for m in pkgutil.iter_modules(worker.__path__, "worker."))
for name in names:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"imported": names, "loaded": loaded}))
"""


def test_the_worker_imports_no_sqlalchemy_and_no_web_framework() -> None:
    env = {**os.environ, "CNNLAB_BROKER_URL": "redis://127.0.0.1:6379/0"}  # a real worker's broker, not the tests'
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(FORBIDDEN)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {m.name for m in pkgutil.iter_modules(worker.__path__, "worker.")}
    assert {"worker.tasks", "worker.runner", "worker.client", "worker.serve", "worker.train"} <= expected
    assert set(result["imported"]) == expected
    assert result["loaded"] == [], f"the worker's modules load {result['loaded']}"
