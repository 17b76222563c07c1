"""A run's config as people read it: flattened to dotted paths (``augment.cutout``), grouped as the
options are, compared across runs (only what differs), and as the client command that launches it."""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from backend.core.option_field import GROUPS
from backend.runs.schemas import ConfigDiff, ConfigGroup, ConfigOption, ConfigValue
from backend.training.options import all_options

CLIENT = "python -m cnnlab_client"  # how a script runs the client (cnnlab_client/__main__.py)
OTHER = "other"  # the group of a path that is not a declared option (architecture.name)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves under dotted paths, in the config's order; a list (a network's stages) is one value, as
    is an empty mapping."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _same_key(value: Any) -> str:
    """Two values are the same when their JSON is (1 and 1.0, or 1 and true, are not)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_diff(run_ids: Sequence[int], configs: Sequence[Mapping[str, Any]]) -> ConfigDiff:
    """Every option of the configs, one row per dotted path (in the order first seen), each run's
    value side by side; a row differs when a run lacks it or any two values are not the same."""
    flat = [flatten(c) for c in configs]
    paths = list(dict.fromkeys(path for f in flat for path in f))
    options = []
    for path in paths:
        values = [f.get(path) for f in flat]
        missing = [i for i, f in enumerate(flat) if path not in f]
        differs = bool(missing) or len({_same_key(v) for v in values}) > 1
        options.append(ConfigOption(path=path, values=values, missing=missing, differs=differs))
    differing = sum(o.differs for o in options)
    return ConfigDiff(run_ids=list(run_ids), options=options, differing=differing, same=len(options) - differing)


@functools.cache
def _groups() -> dict[str, str]:
    return {o.name: o.group for o in all_options()}


def config_view(config: Mapping[str, Any]) -> list[ConfigGroup]:
    """Every option as path = value, by its group in the form's order (paths that are no declared
    option, like the network's name, under ``other``, its first)."""
    groups: dict[str, list[ConfigValue]] = {g: [] for g in (OTHER, *GROUPS)}
    for path, value in flatten(config).items():
        groups[_groups().get(path, OTHER)].append(ConfigValue(path=path, value=value))
    return [ConfigGroup(group=g, options=opts) for g, opts in groups.items() if opts]


def cli_command(config: Mapping[str, Any], name: str) -> str:
    """The client's command that launches a run of this config with this name: the POST /api/runs
    body on its standard input (``submit run -``), quoted for a POSIX shell; printf, not echo, so
    no backslash of the JSON is read as an escape; ``--name=…`` so a name that starts with '-' stays
    the name."""
    body = json.dumps({"config": config}, separators=(",", ":"))
    return f"printf '%s\\n' {shlex.quote(body)} | {CLIENT} submit run - --name={shlex.quote(name)}"
