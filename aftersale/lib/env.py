"""Typed readers for environment settings that fail loudly on bad values."""

import os
from pathlib import Path


class ConfigurationError(RuntimeError):
    """An environment variable holds a value Aftersale cannot use."""


def env_str(name: str, default: str) -> str:
    """Return the variable's value, or `default` when it is unset or empty."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    """Return the variable read as a boolean; anything but a known spelling is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    """Return the variable read as an integer; a non-integer is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from exc


def env_path(name: str, default: Path) -> Path:
    """Return the variable as an absolute path (relative paths resolve against the cwd)."""
    raw = os.environ.get(name)
    return Path(raw).resolve() if raw else default.resolve()
