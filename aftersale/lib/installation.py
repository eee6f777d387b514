"""Where an installation keeps its state (AFTERSALE_HOME), the database it uses and the key
that signs its links.

settings.py only reads them: importing it creates nothing. `prepare` is the start: the
`aftersale` command and the WSGI entry point call it before Django starts, to create the
home and, on the embedded default (SQLite), the generated key kept in it.
"""

import os
import secrets
import tempfile
from pathlib import Path

from aftersale.lib.env import ConfigurationError, env_path, env_secret

HOME_VARIABLE = "AFTERSALE_HOME"
DATABASE_VARIABLE = "AFTERSALE_DATABASE_URL"
SECRET_KEY_VARIABLE = "AFTERSALE_SECRET_KEY"
BROKER_VARIABLE = "AFTERSALE_BROKER_URL"
# The generated key, beside the SQLite database it goes with.
SECRET_KEY_FILENAME = "secret_key"


def home() -> Path:
    """AFTERSALE_HOME as an absolute path (./var by default); not created here."""
    return env_path(HOME_VARIABLE, Path.cwd() / "var")


def database_url(home: Path) -> str:
    """AFTERSALE_DATABASE_URL (or AFTERSALE_DATABASE_URL_FILE), by default a SQLite file
    in `home`."""
    return env_secret(DATABASE_VARIABLE, f"sqlite:///{home / 'aftersale.sqlite3'}")


def broker_url(database_url: str) -> str:
    """AFTERSALE_BROKER_URL (or its _FILE): the Redis broker of production mode (Celery
    workers and beat, aftersale/production), "" in the embedded mode. A broker with
    SQLite, or a broker that is not Redis, is a ConfigurationError saying why."""
    url = env_secret(BROKER_VARIABLE)
    if not url:
        return ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"{BROKER_VARIABLE} must be a Redis URL (redis://host:6379/0, rediss://... "
            "for TLS): production mode runs Celery on Redis"
        )
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise ConfigurationError(
            f"{BROKER_VARIABLE} switches to production mode, which needs PostgreSQL: set "
            f"{DATABASE_VARIABLE}=postgresql://... (SQLite is the embedded mode: one "
            f"process, `aftersale serve`, no broker; unset {BROKER_VARIABLE} for it)"
        )
    return url


def secret_key(home: Path, database_url: str) -> str:
    """The key that signs links and sessions: AFTERSALE_SECRET_KEY (or its _FILE); else, on
    SQLite, the key `prepare` generated in `home` ("" before it ran, and Django then refuses
    to sign anything). A database server without a configured key is a ConfigurationError
    naming the variables."""
    return _configured_key(database_url) or _read_generated_key(home / SECRET_KEY_FILENAME)


def prepare() -> None:
    """Create AFTERSALE_HOME and, on SQLite without a configured key, generate a random key
    into it, readable by its owner only; every later start reuses that key. A database
    server without a configured key is a ConfigurationError, before anything is created."""
    directory = home()
    url = database_url(directory)
    configured = _configured_key(url)
    directory.mkdir(parents=True, exist_ok=True)
    if not configured:
        _write_once(directory / SECRET_KEY_FILENAME, secrets.token_urlsafe(50))


def _configured_key(database_url: str) -> str:
    key = env_secret(SECRET_KEY_VARIABLE)
    if not key and not database_url.startswith("sqlite:"):
        # Every web and worker process of a database server must sign with one key, and
        # a key generated into one machine's home would differ from the next one's.
        raise ConfigurationError(
            f"{DATABASE_VARIABLE} names a database server, so {SECRET_KEY_VARIABLE} (or "
            f"{SECRET_KEY_VARIABLE}_FILE, a file holding it) must be set, to the same "
            "random value for every process, e.g. the output of "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


def _read_generated_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the generated secret key {path} cannot be read: {exc}") from exc
    if not key:
        raise ConfigurationError(
            f"the generated secret key {path} is empty: delete it to generate a new one "
            "(links already sent stop working) or set AFTERSALE_SECRET_KEY"
        )
    return key


def _write_once(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 unless the file exists. Written aside and linked
    into place, so a process starting at the same moment sees no file or the whole one,
    and the first to link wins."""
    if path.exists():
        return
    descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        os.link(scratch, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(scratch)
