"""Where the client finds the server and its token: flag, environment, config file, default."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

DEFAULT_URL = "http://127.0.0.1:8000"
CONFIG_ENV = "CNNLAB_CLIENT_CONFIG"


class ConfigError(Exception):
    """The config file exists but cannot be used (unreadable, bad TOML, a value that is not a string)."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    config_path: Path


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    override = env.get(CONFIG_ENV)
    return Path(override).expanduser() if override else Path.home() / ".config" / "cnnlab" / "client.toml"


def too_open(path: Path) -> int | None:
    """The file's permission bits when group or others may read or write it (as ssh refuses a key), else None."""
    if os.name != "posix":
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode if mode & 0o077 else None


def read_config(path: Path, warn: TextIO | None = None) -> dict[str, str]:
    """``url`` and ``token`` from the TOML file; {} when there is no file."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, str] = {}
    for key in ("url", "token"):
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigError(f"{path}: {key} must be a string")
            values[key] = data[key]
    if values.get("token"):
        mode = too_open(path)
        if mode is not None:
            print(f"warning: permissions {mode:04o} for {path} are too open: it holds a token, which other "
                  f"users may read; run: chmod 600 {path}", file=warn or sys.stderr)
    return values


def load_settings(url_flag: str | None = None, env: Mapping[str, str] = os.environ,
                  warn: TextIO | None = None) -> Settings:
    """The server: --url, $CNNLAB_URL, the file's url, the default; the token: $CNNLAB_TOKEN, the file's token.
    An empty value counts as unset."""
    path = config_path(env)
    file = read_config(path, warn)
    url = url_flag or env.get("CNNLAB_URL") or file.get("url") or DEFAULT_URL
    token = env.get("CNNLAB_TOKEN") or file.get("token") or None
    return Settings(url=url.strip().rstrip("/"), token=token.strip() if token else None, config_path=path)
