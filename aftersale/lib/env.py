"""Typed readers for environment settings that fail loudly on bad values."""

import os
from pathlib import Path


class ConfigurationError(RuntimeError):
    """An environment variable holds a value Aftersale cannot use."""


def env_str(name: str, default: str) -> str:
    """Return the variable's value, or `default` when it is unset or empty."""
    return os.environ.get(name) or default


def env_choice(name: str, default: str, *, choices: tuple[str, ...]) -> str:
    """Return the variable's value, one of `choices`, or `default` when it is unset or
    empty; any other value is an error naming the choices."""
    value = os.environ.get(name) or default
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


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


def env_secret(name: str, default: str = "") -> str:
    """Return the secret `name` holds, or the contents of the file `name`_FILE names (a
    trailing newline left out: how secret files are usually written), or `default` when
    neither is set. Both set, an unreadable file or an empty one is a ConfigurationError
    naming the variable: a secret never silently falls back to the default."""
    file_variable = f"{name}_FILE"
    value, path = os.environ.get(name), os.environ.get(file_variable)
    if value and path:
        raise ConfigurationError(f"both {name} and {file_variable} are set: set only one")
    if not path:
        return value or default
    try:
        content = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file_variable}={path!r} cannot be read: {exc}") from exc
    if not content:
        raise ConfigurationError(f"{file_variable}={path!r} is empty")
    return content
