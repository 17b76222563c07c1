"""The API against its own OpenAPI document: schemathesis (a property-based API tester) against
the real backend on PostgreSQL, every check, in its coverage, fuzzing and stateful phases, with a
fixed seed — once as an admin (every user route), once as a worker (the worker routes).

Its settings are tests/backend/contract/schemathesis.toml (which operations may answer 422 to requests
the schema cannot rule out, and why). The event streams are left out: they never end while a run
trains (tests/backend/runs/test_service_integration.py and the browser tests cover them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.utils.auth import WORKER_TOKEN
from tests.utils.services import Lab, postgres_database, require_redis

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parent / "contract" / "schemathesis.toml"
SEED = 20261201
EXAMPLES = 4  # per operation and phase: every operation and phase still runs, with fewer generated
# examples (the user routes took 9.4 minutes at 6 on a Zen 4: the suite's slowest test)


def schemathesis(lab: Lab, token: str, *extra: str, workers: int = 2) -> subprocess.CompletedProcess:
    st = Path(__import__("sys").executable).with_name("st")
    command = [str(st), "--config-file", str(CONFIG), "run", f"{lab.url}/openapi.json",
               "-H", f"Authorization: Bearer {token}",
               "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--seed", str(SEED),
               "--max-examples", str(EXAMPLES), "--exclude-path-regex", "/events$", "--workers", str(workers), *extra]
    done = subprocess.run(command, cwd=lab.tmp, capture_output=True, text=True, timeout=900)
    print(done.stdout[-6000:])  # the summary, the seed and any failure, in the test's output
    (lab.tmp / f"schemathesis-{len(list(lab.tmp.glob('schemathesis-*')))}.txt").write_text(done.stdout)
    return done


@pytest.fixture(scope="module")
def contract_lab(tmp_path_factory, dataset):
    require_redis()
    with postgres_database() as url:
        tmp = tmp_path_factory.mktemp("contract")
        lab = Lab(tmp, url, "redis://127.0.0.1:6379/0", dataset)  # quotas on: the database stays small
        lab.migrate()
        # the token schemathesis signs in with gets an id it will not guess when it revokes tokens
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("ALTER SEQUENCE api_tokens_id_seq RESTART WITH 1000000"))
        engine.dispose()
        lab.token = lab.users("token", "tester", "--name", "schemathesis").strip().splitlines()[-1]
        lab.start_backend()
        yield lab
        lab.close()


@pytest.mark.timeout(900)  # ~9.5 minutes on two cores (56 operations, every phase): past the suite's 600 s default
def test_every_user_route_keeps_its_contract(contract_lab) -> None:
    done = schemathesis(contract_lab, contract_lab.token, "--exclude-path-regex", "^/api/worker/")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert f"Seed: {SEED}" in done.stdout


def test_every_worker_route_keeps_its_contract(contract_lab) -> None:
    # one worker thread: hypothesis' lambda descriptions are not thread-safe on Python 3.11 for the
    # binary checkpoint body ("AST constructor recursion depth mismatch", a tester error, not ours)
    done = schemathesis(contract_lab, WORKER_TOKEN, "--include-path-regex", "^/api/worker/", workers=1)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert f"Seed: {SEED}" in done.stdout
