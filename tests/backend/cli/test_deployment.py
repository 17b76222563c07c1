"""docker-compose.yml: parses, runs the very commands the tests and `./cnnlab start` run, and
takes its secrets from .env (.env.example documents them) with no usable default password."""

from __future__ import annotations

import os
import re
import secrets
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from backend.cli.launch import BACKEND, MIGRATE, WORKER
from tests.utils.services import ROOT

SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "CNNLAB_WORKER_TOKEN")
CNNLAB_SERVICES = ("migrate", "backend", "worker")
# what an operator's .env might hold: URL-safe secrets, as .env.example asks for
DOTENV = {name: secrets.token_urlsafe(32) for name in SECRETS} | {"CNNLAB_ALLOWED_HOSTS": "lab.example.org,backend"}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def native(command: list[str]) -> list[str]:
    return ["python", *command[1:]]  # sys.executable natively, the image's python in Docker


def variables(value: object = ...) -> list[re.Match]:
    """Every ${...} in the file's values (comments are not interpolated)."""
    value = compose() if value is ... else value
    if isinstance(value, dict):
        return [match for item in value.values() for match in variables(item)]
    if isinstance(value, list):
        return [match for item in value for match in variables(item)]
    return list(VARIABLE.finditer(value)) if isinstance(value, str) else []


def interpolate(value, env: dict[str, str]):
    """What docker compose does to the parsed file's values with `env` (.env) around it."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        got = env.get(name)
        present = got is not None and (got != "" or not (op or "").startswith(":"))
        if op in (":?", "?") and not present:
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and not present:
            return arg
        if op in (":+", "+"):
            return arg if present else ""
        return got or ""

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def dotenv_example() -> dict[str, tuple[str, bool]]:
    """.env.example's variables: name -> (value, commented out)."""
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z_][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[2]] = (match[3].strip(), bool(match[1]))
    return found


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined: (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), (line.split(None, 1) + [""])[1])
            for line in lines if line and not line.startswith("#")]


def test_compose_has_the_lab_services() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "backend", "worker"}
    assert {"postgres-data", "redis-data", "cnnlab-var", "cnnlab-data"} <= set(compose()["volumes"])


def test_compose_commands_are_the_native_ones() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == native(MIGRATE)
    assert services["backend"]["command"] == native(BACKEND)
    assert services["worker"]["command"] == native(WORKER)


def test_lab_mode_is_configured_by_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    for name in CNNLAB_SERVICES:
        env = services[name]["environment"]
        assert env["CNNLAB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["CNNLAB_BROKER_URL"].startswith("redis://")
    from backend.core.settings import Settings

    # the backend container's environment, exactly: nothing else CNNLAB_* around it
    for key in [key for key in os.environ if key.startswith("CNNLAB_")]:
        monkeypatch.delenv(key)
    for key, value in interpolate(services["backend"]["environment"], DOTENV).items():
        monkeypatch.setenv(key, str(value))
    lab = Settings()
    password = DOTENV["POSTGRES_PASSWORD"]
    assert lab.DATABASE_URL == f"postgresql+psycopg://cnnlab:{password}@postgres:5432/cnnlab"
    assert lab.BROKER_URL == f"redis://:{DOTENV['REDIS_PASSWORD']}@redis:6379/0"
    assert lab.PORT == 8000 and lab.HOST == "0.0.0.0"
    expected = {"AUTH": "required", "WORKER_TOKEN": DOTENV["CNNLAB_WORKER_TOKEN"]}
    for field, value in expected.items():
        if field in Settings.model_fields:  # the identity settings, once they exist
            assert getattr(lab, field) == value


def test_the_gpu_override_reserves_gpus_and_the_backend_waits_for_migrations() -> None:
    services = compose()["services"]
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]  # opt-in (tests/backend)
    devices = gpu["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["backend"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_secret_is_a_required_variable() -> None:
    used = [match for match in variables() if match["name"] in SECRETS]
    assert {match["name"] for match in used} == set(SECRETS)
    for match in used:  # each use, so no service quietly gets an empty password
        assert match["op"] == ":?" and match["arg"].strip(), f"{match[0]} must be ${{{match['name']}:?message}}"
    for name in SECRETS:
        with pytest.raises(LookupError, match=name):
            interpolate(compose(), {key: value for key, value in DOTENV.items() if key != name})
    # .env.example copied as it is does not start anything
    with pytest.raises(LookupError):
        interpolate(compose(), {key: value for key, (value, commented) in dotenv_example().items() if not commented})


def test_no_literal_password_in_compose() -> None:
    raw = compose()["services"]
    assert VARIABLE.fullmatch(raw["postgres"]["environment"]["POSTGRES_PASSWORD"])["name"] == "POSTGRES_PASSWORD"
    services = interpolate(compose(), DOTENV)
    assert services["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == DOTENV["POSTGRES_PASSWORD"]
    for name in CNNLAB_SERVICES:
        env = services["services"][name]["environment"]
        database, broker = urlsplit(env["CNNLAB_DATABASE_URL"]), urlsplit(env["CNNLAB_BROKER_URL"])
        assert (database.username, database.password) == ("cnnlab", DOTENV["POSTGRES_PASSWORD"])
        assert broker.password == DOTENV["REDIS_PASSWORD"]
        assert env["CNNLAB_WORKER_TOKEN"] == DOTENV["CNNLAB_WORKER_TOKEN"]


def test_redis_requires_the_brokers_password() -> None:
    command = interpolate(compose(), DOTENV)["services"]["redis"]["command"]
    assert command[0] == "redis-server" and "--requirepass" in command
    assert command[command.index("--requirepass") + 1] == DOTENV["REDIS_PASSWORD"]
    assert "--appendonly" in command


def test_backend_and_worker_require_sign_in() -> None:
    services = compose()["services"]
    for name in CNNLAB_SERVICES:
        env = services[name]["environment"]
        assert env["CNNLAB_AUTH"] == "required"
        assert {"CNNLAB_WORKER_TOKEN", "CNNLAB_ALLOWED_HOSTS"} <= set(env)
        assert env["CNNLAB_BACKEND_URL"] == "http://backend:8000"


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    listed = dotenv_example()
    required = {match["name"] for match in variables() if match["op"] in (":?", "?")}
    assert {match["name"] for match in variables()} <= set(listed)
    for name in required:
        assert not listed[name][1], f"{name} is required: .env.example lists it uncommented"
    for name in SECRETS:
        assert listed[name][0] == "", f"{name} must be empty in .env.example"
    hosts = listed["CNNLAB_ALLOWED_HOSTS"][0].split(",")
    assert "backend" in [host.strip() for host in hosts], "workers reach the backend as http://backend:8000"
    # the optional values it shows are compose's defaults
    defaults = {match["name"]: match["arg"] for match in variables() if match["op"] in (":-", "-")}
    for name, default in defaults.items():
        assert listed[name][0] == default, f".env.example shows {name}={listed[name][0]}, compose defaults to {default}"


def test_compose_defaults_are_the_settings_defaults() -> None:
    from backend.core.settings import Settings

    defaults = {match["name"]: match["arg"] for match in variables() if match["op"] in (":-", "-")}
    assert defaults, "the optional limits have defaults in docker-compose.yml"
    for name, default in defaults.items():
        field = name.removeprefix("CNNLAB_")
        if field in Settings.model_fields:  # fields another change adds are checked once they exist
            assert getattr(Settings(**{field: default}), field) == Settings.model_fields[field].default, name


def test_services_run_as_a_non_root_user() -> None:
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    assert "USER" in kinds and "CMD" in kinds
    last_user = max(i for i, kind in enumerate(kinds) if kind == "USER")
    for cmd in [i for i, kind in enumerate(kinds) if kind == "CMD"]:  # each image (stage) switches before its CMD
        stage = max(i for i in range(cmd) if kinds[i] == "FROM")
        assert "USER" in kinds[stage:cmd], instructions[stage]
    user = instructions[last_user][1].split(":")[0].strip()
    assert user not in ("root", "0", "")
    run = " && ".join(arguments for kind, arguments in instructions[:last_user] if kind == "RUN")
    assert re.search(rf"useradd\b[^&]*\s{re.escape(user)}(\s|$)", run), f"the Dockerfile creates the user {user}"
    # the folders the named volumes are mounted on belong to it, so new volumes do too
    chowned = [shlex.split(part) for part in run.split("&&") if part.strip().startswith("chown")]
    services = compose()["services"]
    for name in CNNLAB_SERVICES:
        assert str(services[name].get("user", user)).split(":")[0] not in ("root", "0"), name
        for volume in services[name]["volumes"]:
            mount = volume.split(":")[1]
            assert any(mount in words and words[1].split(":")[0] == user for words in chowned), mount


def test_the_image_leaves_env_files_out() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert ".env" in ignored  # COPY . . would bake the secrets into the image


def test_the_backend_and_the_worker_restart_and_report_their_health() -> None:
    services = compose()["services"]
    for name in ("backend", "worker", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", name
    assert "/api/health" in " ".join(services["backend"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["migrate"].get("restart", "no") == "no"  # a one-shot step


def test_the_worker_takes_every_gpu_and_says_how_many_runs_each_trains() -> None:
    worker = compose()["services"]["worker"]
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]["worker"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"
    env = worker["environment"]
    assert env["CNNLAB_WORKER_GPUS"] == "${CNNLAB_WORKER_GPUS:-all}"
    assert env["CNNLAB_RUNS_PER_GPU"] == "${CNNLAB_RUNS_PER_GPU:-2}"
    assert "CNNLAB_WORKER_POOL" not in env  # worker.serve runs one solo worker per (GPU, slot)
