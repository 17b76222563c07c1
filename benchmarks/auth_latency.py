"""What identity costs: token authentication on GET /api/runs, and one password verification.

    python -m benchmarks.auth_latency

Two real backend processes on one fresh PostgreSQL database with 200 runs: one in required mode,
called with a personal API token (lookup of its SHA-256, the user, the last-used write at most
once a minute), and the reference — the same code in local mode, called without credentials (the
local admin, no token lookup). The requests alternate between the two, so both see the same
machine. Prints p50/p90 of each, the difference (the added latency; target < 2 ms at p50) and
the ratio; the token path alone timed in process (the reference's local-admin lookup is one
query too, so this is the whole cost of a token, not just the difference); then the median time
of pwdlib's argon2 verify and hash. Writes
benchmarks/results/auth_latency.json.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import backend_process, fresh_postgres_database, machine

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
REQUESTS, RUNS = 400, 200


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def users_cli(url: str, var: Path, *args: str, stdin: str | None = None) -> str:
    import os

    env = {**os.environ, "CNNLAB_DATABASE_URL": url, "CNNLAB_VAR_DIR": str(var)}
    return subprocess.run([sys.executable, "-m", "backend.cli.users", *args], cwd=ROOT, env=env, input=stdin, text=True,
                          capture_output=True, check=True).stdout


def password_costs(repeat: int = 15) -> dict[str, float]:
    from backend.identity.passwords import hash_password, verify_password

    stored = hash_password("a lab member's password")
    verify, make = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        assert verify_password("a lab member's password", stored)
        verify.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        hash_password("another password")
        make.append((time.perf_counter() - t) * 1000)
    return {"verify_ms_median": round(statistics.median(verify), 1),
            "hash_ms_median": round(statistics.median(make), 1),
            "hash": stored.split("$")[1] + " " + stored.split("$")[3]}


def token_lookup_ms(url: str, token: str, repeat: int = 400) -> float:
    """The token path alone, in process: SHA-256 of the secret, the indexed token + user query,
    the checks (what a request with a token pays beyond one without credentials)."""
    from sqlalchemy.orm import sessionmaker

    from backend.core.db import make_engine
    from backend.identity.rules import _from_bearer

    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    samples = []
    with sessions() as session:
        for _ in range(repeat):
            t = time.perf_counter()
            assert _from_bearer(session, token).user is not None
            samples.append((time.perf_counter() - t) * 1000)
            session.expunge_all()
    engine.dispose()
    return statistics.median(samples)


def main() -> None:
    from backend.cli.migrate import upgrade

    with fresh_postgres_database() as url:
        var = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        upgrade(url)
        users_cli(url, var, "create", "bench", "--admin", "--password-stdin", stdin="bench password\n")
        token = users_cli(url, var, "token", "bench", "--name", "bench").strip().splitlines()[-1]
        with backend_process(url, var, CNNLAB_AUTH="required", CNNLAB_MAX_ACTIVE_RUNS_PER_USER="0") as required, \
                backend_process(url, var) as local:
            required.headers["Authorization"] = f"Bearer {token}"
            config = {"architecture": "compact", "epochs": 1}
            for i in range(RUNS):
                required.post("/api/runs", json={"name": f"run {i}", "config": config}).raise_for_status()
            timed = {"token": [], "local": []}
            for client in (required, local):  # warm both
                for _ in range(20):
                    client.get("/api/runs?limit=50").raise_for_status()
            for _ in range(REQUESTS):
                for name, client in (("token", required), ("local", local)):
                    t = time.perf_counter()
                    client.get("/api/runs?limit=50").raise_for_status()
                    timed[name].append((time.perf_counter() - t) * 1000)
        lookup = token_lookup_ms(url, token)
    p50 = {k: statistics.median(v) for k, v in timed.items()}
    results = {
        "machine": machine(),
        "requests_each": REQUESTS, "runs": RUNS,
        "token_p50_ms": round(p50["token"], 2), "token_p90_ms": round(percentile(timed["token"], 0.9), 2),
        "reference_local_p50_ms": round(p50["local"], 2),
        "reference_local_p90_ms": round(percentile(timed["local"], 0.9), 2),
        "added_p50_ms": round(p50["token"] - p50["local"], 2),
        "ratio_token_over_local": round(p50["token"] / p50["local"], 3),
        "token_path_in_process_ms_median": round(lookup, 3),
        "password": password_costs(),
    }
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth_latency.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
