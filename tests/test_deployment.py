"""docker-compose.yml: parses, and runs the very commands the tests and `./cnnlab start` run."""

from __future__ import annotations

from pathlib import Path

import yaml

from backend.launch import BACKEND, MIGRATE, WORKER

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def native(command: list[str]) -> list[str]:
    return ["python", *command[1:]]  # sys.executable natively, the image's python in Docker


def test_compose_has_the_lab_services() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "backend", "worker"}
    assert {"postgres-data", "redis-data", "cnnlab-var", "cnnlab-data"} <= set(compose()["volumes"])


def test_compose_commands_are_the_native_ones() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == native(MIGRATE)
    assert services["backend"]["command"] == native(BACKEND)
    assert services["worker"]["command"] == native(WORKER)


def test_lab_mode_is_configured_by_environment_alone() -> None:
    services = compose()["services"]
    for name in ("migrate", "backend", "worker"):
        env = services[name]["environment"]
        assert env["CNNLAB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["CNNLAB_BROKER_URL"].startswith("redis://")
    from backend.settings import Settings

    lab = Settings(**{k.removeprefix("CNNLAB_"): v for k, v in services["backend"]["environment"].items()})
    assert lab.DATABASE_URL.startswith("postgresql") and lab.PORT == 8000


def test_worker_reserves_a_gpu_and_the_backend_waits_for_migrations() -> None:
    services = compose()["services"]
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["backend"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
