"""`aftersale serve` as a merchant starts it: a child process on a fresh installation
(its own AFTERSALE_HOME; on PostgreSQL a new database), sending to a capture SMTP server
on 127.0.0.1. The first-hour browser test drives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.worker.tests.crash_scenario import (
    free_port,
    fresh_postgres_database,
    lines_until,
)


@dataclass
class Served:
    """A running installation: its URL, the SMTP server it sends to, its environment."""

    url: str
    smtp: CaptureServer
    env: dict[str, str]
    output: list[str]  # what the server printed so far, line by line


@contextmanager
def served_installation(home: Path) -> Iterator[Served]:
    """`aftersale serve` (with its worker, polling often) on a new installation at
    `home`, stopped with SIGTERM afterwards. On SQLite the database does not exist yet
    (the command creates it, as on a merchant's first start); on PostgreSQL it is a new
    database migrated with `aftersale migrate`, the documented first step there."""
    home.mkdir(parents=True, exist_ok=True)
    with CaptureServer(home / "outbox") as smtp, _database_url(home) as database_url:
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "aftersale.settings",
            "AFTERSALE_HOME": str(home),
            "AFTERSALE_DATABASE_URL": database_url,
            "AFTERSALE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "AFTERSALE_SMTP_HOST": "127.0.0.1",
            "AFTERSALE_SMTP_PORT": str(smtp.port),
        }
        if not database_url.startswith("sqlite:"):
            _aftersale(env, "migrate", "-v", "0")
        with _serving(env, port) as output:
            yield Served(url=f"http://127.0.0.1:{port}", smtp=smtp, env=env, output=output)


@contextmanager
def _database_url(home: Path) -> Iterator[str]:
    default = settings.DATABASES["default"]
    if default["ENGINE"] == "django.db.backends.sqlite3":
        yield f"sqlite:///{home / 'aftersale.sqlite3'}"
        return
    with fresh_postgres_database(default) as url:
        yield url


@contextmanager
def _serving(env: dict[str, str], port: int) -> Iterator[list[str]]:
    command = [sys.executable, "-m", "aftersale.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--idle-seconds", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        output = lines_until("serving on", server.stdout)
        # Read on, or a full pipe would stop the server at its next log line.
        threading.Thread(target=output.extend, args=(server.stdout,), daemon=True).start()
        yield output
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()


def _aftersale(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aftersale {' '.join(args)} failed:\n{done.stderr[-3000:]}")
