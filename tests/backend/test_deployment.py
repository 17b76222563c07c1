"""`docker compose up` on a machine without an NVIDIA GPU, and a backend image without torch
(issue 31). Docker is not needed: the files are checked. (tests/backend/cli/test_deployment.py
checks the services' commands, secrets and users.)

- docker-compose.yml parses and reserves no device (Docker refuses a GPU reservation on a host
  without an NVIDIA GPU, and the whole `up` fails); docker-compose.gpu.yml adds the reservation to
  the worker alone;
- the Dockerfile has a slim ``backend`` target (requirements-backend.txt) and a ``worker`` target
  (requirements.txt); compose builds each service from its target;
- requirements-backend.txt holds no torch, torchvision or onnx, each line is requirements.txt's own
  pin, and it provides every third-party package backend/ imports.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

import yaml

from tests.utils.services import ROOT

WORKER_ONLY = {"torch", "torchvision", "onnx", "psutil", "nvidia-ml-py"}  # the backend never imports these


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def reservations(value: object) -> list[dict]:
    """Every `devices` reservation anywhere in a compose file."""
    if isinstance(value, dict):
        found = list(value.get("devices", [])) if isinstance(value.get("devices"), list) else []
        return found + [d for key, item in value.items() if key != "devices" for d in reservations(item)]
    if isinstance(value, list):
        return [d for item in value for d in reservations(item)]
    return []


def stages() -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's stages by name: their instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        kind, _, args = line.partition(" ")
        if kind.upper() == "FROM":
            current = []
            match = re.search(r"\s+AS\s+(\S+)$", args, re.IGNORECASE)
            out[match[1] if match else f"stage{len(out)}"] = current
        current.append((kind.upper(), args.strip()))
    return out


def requirements(name: str) -> dict[str, str]:
    """A requirements file's pins: normalised name (extras dropped) -> the line as written."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pins[re.split(r"[\[=<>~!]", line, maxsplit=1)[0].lower().replace("_", "-")] = line
    return pins


def test_compose_without_the_override_reserves_no_device_and_the_override_reserves_the_gpus() -> None:
    default = load("docker-compose.yml")
    assert reservations(default) == []  # starts on a laptop without an NVIDIA GPU
    assert all("deploy" not in service for service in default["services"].values())
    gpu = load("docker-compose.gpu.yml")
    assert set(gpu["services"]) == {"worker"}  # an override of the worker alone
    devices = gpu["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    # the worker's default picks every GPU it sees, so the same service trains on the CPU without any
    assert default["services"]["worker"]["environment"]["CNNLAB_WORKER_GPUS"] == "${CNNLAB_WORKER_GPUS:-all}"


def test_the_readme_says_how_to_start_with_and_without_gpus() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docker compose up" in readme
    assert "docker compose -f docker-compose.yml -f docker-compose.gpu.yml up" in readme


def test_the_dockerfile_builds_a_slim_backend_and_a_worker_and_compose_uses_each() -> None:
    found = stages()
    assert {"backend", "worker"} <= set(found)
    installs = {name: " ".join(args for kind, args in found[name] if kind in ("COPY", "RUN")) for name in found}
    assert "requirements-backend.txt" in installs["backend"] and "requirements.txt " not in installs["backend"] + " "
    assert "-r requirements.txt" in installs["worker"]
    for name in ("backend", "worker"):
        kinds = [kind for kind, _ in found[name]]
        assert "CMD" in kinds and "USER" in kinds and kinds.index("USER") < kinds.index("CMD"), name
    assert list(found)[-1] == "worker"  # a plain `docker build .` gives the image that trains
    services = load("docker-compose.yml")["services"]
    for name in ("migrate", "backend"):
        assert services[name]["build"]["target"] == "backend", name
    assert services["worker"]["build"]["target"] == "worker"
    assert len({services[name]["image"] for name in ("backend", "worker")}) == 2


def test_the_backend_requirements_hold_no_torch_and_pin_as_requirements_txt_does() -> None:
    backend, full = requirements("requirements-backend.txt"), requirements("requirements.txt")
    assert not WORKER_ONLY & set(backend), WORKER_ONLY & set(backend)
    for name, line in backend.items():
        assert full.get(name) == line, f"requirements-backend.txt: {line!r}, requirements.txt: {full.get(name)!r}"
    assert {"torch", "torchvision"} <= set(full)


def _distribution_closure(names: set[str]) -> set[str]:
    """The distributions ``names`` install, their dependencies included (as installed here)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            required = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for spec in required:
            if "extra ==" in spec and not any(f'extra == "{e}"' in spec for e in ("argon2", "binary")):
                continue
            todo.append(re.split(r"[\s\[=<>~!;(]", spec, maxsplit=1)[0])
    return seen


def test_the_backend_requirements_provide_every_package_the_backend_imports() -> None:
    modules: set[str] = set()
    for path in (ROOT / "backend").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m not in ("backend", "__future__")}
    assert "torch" not in third_party and "worker" not in third_party  # the web side never imports them
    installed = _distribution_closure(set(requirements("requirements-backend.txt")))
    owners = importlib.metadata.packages_distributions()
    for module in sorted(third_party):
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        assert dists, f"backend imports {module!r}, which no installed distribution provides"
        assert dists & installed, f"backend imports {module!r} ({dists}): not installed by requirements-backend.txt"
