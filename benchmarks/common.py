"""Shared bits of the benchmarks: the machine they ran on, and where the real CIFAR-10 lies."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.data import ImageDataset

SHARED_CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"


def cifar10_path() -> Path:
    path = Path(os.environ.get("CNNLAB_BENCH_CIFAR10", SHARED_CIFAR10))
    if not path.exists():
        raise SystemExit(f"{path}: the real CIFAR-10 tarball is needed (set CNNLAB_BENCH_CIFAR10)")
    return path


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
                    if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        # the model name alone ("AMD EPYC") hides a 4x difference in training speed between generations
        flags = set(info.get("flags", "").split())
        simd = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags), "no avx2")
        family, model = info.get("cpu family", "?"), info.get("model", "?")
        cpu = f"{info.get('model name', cpu)} (family {family} model {model}, {simd})"
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def images_per_s_after_first_epoch(config, data) -> float:
    """Training images per second of epoch wall time (its evaluation included) through the
    trainer, the first epoch (allocator and kernel warm-up) left out: ``config`` needs two epochs."""
    from worker.trainer import train

    speed_only = config.model_copy(update={"data": config.data.model_copy(update={"holdout": 0})})  # no choices made
    timed = train(speed_only, data, log=None).history[1:]
    return len(data.train_y) * len(timed) / sum(m.seconds for m in timed)


# --- real services for the benchmarks. Nothing here imports tests (nor pytest); the tests'
# PostgreSQL helper (tests.utils.services.postgres_database) is fresh_postgres_database plus their
# skip-or-fail rule when no PostgreSQL is running. ---
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PG_ADMIN_URL = os.environ.get("CNNLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "cnnlab_bench"):
    """A new, empty PostgreSQL database on PG_ADMIN_URL's server, named ``prefix_<random>``; yields
    its URL, and drops it afterwards (its connections cut first)."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextlib.contextmanager
def backend_process(database_url: str, var_dir: Path, **extra_env: str):
    """Migrate, then run `python -m backend.cli.serve` (the lab's own command) on a free port; local
    mode (no sign-in) unless ``extra_env`` says otherwise."""
    import socket
    import subprocess
    import time

    import httpx

    from backend.cli.launch import BACKEND, MIGRATE

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CNNLAB_DATABASE_URL": database_url, "CNNLAB_VAR_DIR": str(var_dir),
           "CNNLAB_BROKER_URL": "redis://127.0.0.1:6379/0", "CNNLAB_QUEUE": f"bench-{uuid.uuid4().hex[:6]}",
           "CNNLAB_PORT": str(port), "CNNLAB_BACKEND_URL": url, "CNNLAB_AUTH": "local", **extra_env}
    root = Path(__file__).resolve().parents[1]
    subprocess.run(MIGRATE, cwd=root, env=env, check=True, capture_output=True)
    proc = subprocess.Popen(BACKEND, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=url, timeout=30)
    try:
        for _ in range(300):
            try:
                if client.get("/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.kill()
        proc.wait()


def coloured_noise(train: int, test: int) -> ImageDataset:
    """Generated images for the benchmarks' tiny modes: 10 classes, each a colour with noise, so
    accuracy can rise above chance; ``train`` and ``test`` images, the same for the same sizes."""
    import numpy as np

    from worker.data import ImageDataset

    rng = np.random.default_rng(0)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        base = (np.arange(10)[:, None] * np.array([25, 60, 95]) % 255).astype(np.int16)
        x = base[y][:, None, None, :] + rng.integers(-40, 40, (n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    (tx, ty), (vx, vy) = images(train), images(test)
    return ImageDataset(tx, ty, vx, vy, [f"class{i}" for i in range(10)])


def write_report(path: Path, report: dict[str, Any], summary: Any) -> None:
    """A resumable benchmark's JSON, rewritten after each run: its summary and the time, written
    atomically (a stop mid-write leaves the previous file)."""
    report["summary"] = summary
    report["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, path)
