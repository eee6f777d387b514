"""Real `aftersale worker` processes against a database of their own, killed with SIGKILL
and restarted: the parts of the crash test.

The scenario database is separate from pytest-django's test database (which is in memory
on SQLite, invisible to other processes): a file in a temporary AFTERSALE_HOME, or a fresh
database on the same PostgreSQL server the suite runs against. `aftersale migrate` creates
its tables, once per test run: each scenario starts from a copy of that migrated database
(the file copied on SQLite; PostgreSQL's CREATE DATABASE ... TEMPLATE). The test reads it
with plain SQL.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import psycopg
from django.conf import settings

ACTIVE_ENROLLMENTS = "SELECT count(*) FROM flows_enrollment WHERE state = 'active'"
QUEUED_MESSAGES = "SELECT count(*) FROM messaging_message WHERE status = 'queued'"
# Finished work: journeys no longer active plus emails no longer queued.
PROGRESS = (
    "SELECT (SELECT count(*) FROM flows_enrollment WHERE state <> 'active')"
    " + (SELECT count(*) FROM messaging_message WHERE status <> 'queued')"
)


@dataclass
class ScenarioDatabase:
    """A migrated database the workers and the test share, and how to reach it."""

    env: dict[str, str]

    def scalar(self, sql: str) -> int:
        """The single number `sql` selects."""
        return int(self.rows(sql)[0][0])

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Every row `sql` selects, read on a fresh connection (workers keep writing)."""
        url = self.env["AFTERSALE_DATABASE_URL"]
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()


@contextmanager
def scenario_database(home: Path) -> Iterator[ScenarioDatabase]:
    """A fresh migrated database of the kind the suite runs on (SQLite or PostgreSQL),
    with AFTERSALE_HOME at `home`; a PostgreSQL one is dropped afterwards. It is a copy of
    one database migrated by `aftersale migrate` the first time a test asks (the same
    tables, no rows), so that each scenario does not run every migration again."""
    home.mkdir(parents=True, exist_ok=True)
    default = settings.DATABASES["default"]
    if default["ENGINE"] == "django.db.backends.sqlite3":
        shutil.copytree(_migrated_sqlite_home(), home, dirs_exist_ok=True)
        yield _database(home, f"sqlite:///{home / SQLITE_FILE}")
        return
    with fresh_postgres_database(default, template=_migrated_postgres_database(default)) as url:
        yield _database(home, url)


SQLITE_FILE = "crash.sqlite3"
# The migrated database each scenario copies, made once per test run (pytest process):
# the AFTERSALE_HOME holding the SQLite file, or the PostgreSQL database's name.
_templates: dict[str, str] = {}


def _migrated_sqlite_home() -> Path:
    if "sqlite" not in _templates:
        home = Path(tempfile.mkdtemp(prefix="aftersale-scenario-template-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        migrated(home, f"sqlite:///{home / SQLITE_FILE}")
        _templates["sqlite"] = str(home)
    return Path(_templates["sqlite"])


def _migrated_postgres_database(default: Mapping[str, Any]) -> str:
    if "postgresql" not in _templates:
        name = f"aftersale_template_{uuid.uuid4().hex[:10]}"
        server = _server(default)
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop_database, server, name)
        with tempfile.TemporaryDirectory(prefix="aftersale-scenario-template-") as home:
            migrated(Path(home), _url(default, name))
        _templates["postgresql"] = name
    return _templates["postgresql"]


def _database(home: Path, url: str) -> ScenarioDatabase:
    return ScenarioDatabase(env={"AFTERSALE_HOME": str(home), "AFTERSALE_DATABASE_URL": url})


def migrated(home: Path, url: str) -> ScenarioDatabase:
    """The database at `url`, migrated by `aftersale migrate` with AFTERSALE_HOME `home`."""
    database = _database(home, url)
    run_aftersale(database, "migrate", "-v", "0")
    return database


@contextmanager
def fresh_postgres_database(
    default: Mapping[str, Any], *, template: str | None = None
) -> Iterator[str]:
    """A new database on the PostgreSQL server of `default`, its URL; dropped after. Empty,
    or a copy of the database named `template` (which nobody may be connected to)."""
    name = f"aftersale_crash_{uuid.uuid4().hex[:10]}"
    server = _server(default)
    copy_of = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
    try:
        yield _url(default, name)
    finally:
        _drop_database(server, name)


def _server(default: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "host": default["HOST"],
        "port": default["PORT"],
        "user": default["USER"],
        "password": default["PASSWORD"] or None,
    }


def _url(default: Mapping[str, Any], name: str) -> str:
    credentials = quote(str(default["USER"])) + (
        f":{quote(str(default['PASSWORD']))}" if default["PASSWORD"] else ""
    )
    return f"postgresql://{credentials}@{default['HOST']}:{default['PORT']}/{name}"


def _drop_database(server: Mapping[str, Any], name: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_env(database: ScenarioDatabase, **extra: str) -> dict[str, str]:
    """The environment of an `aftersale` child process working on `database`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aftersale.settings", **database.env}
    return {**env, **extra}


def run_aftersale(database: ScenarioDatabase, *args: str) -> str:
    """Run `aftersale ARGS` on `database` to the end and return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "aftersale.cli", *args],
        env=child_env(database),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aftersale {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def populate(database: ScenarioDatabase, *, count: int) -> int:
    """Enroll `count` customers in the Crash flow; return how many were enrolled."""
    code = f"from aftersale.worker.tests.crash_data import populate; populate(count={count})"
    output = run_aftersale(database, "shell", "-c", code)
    return int(json.loads(output.strip().splitlines()[-1])["enrollments"])


@dataclass
class WorkerPool:
    """`size` `aftersale worker` processes on one database; any of them can be killed
    and is replaced at once by a fresh process (a new pid, so a new worker id)."""

    env: dict[str, str]
    logs: Path
    size: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_of: dict[int, Path] = field(default_factory=dict)
    started: int = 0

    def start(self) -> None:
        """Start `size` workers."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        path = self.logs / f"worker-{self.started}.log"
        command = ["worker", "--idle-seconds", "0.1"]
        with path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "aftersale.cli", *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.log_of[process.pid] = path
        return process

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random worker, wait for it to die, start a replacement."""
        victim = rng.randrange(len(self.processes))
        self.processes[victim].send_signal(signal.SIGKILL)
        self.processes[victim].wait(timeout=30)
        self.processes[victim] = self._spawn()

    def assert_running(self) -> None:
        """Fail, with its log, if a worker ended without being killed."""
        for process in self.processes:
            if process.poll() is not None:
                log = sorted(self.logs.glob("*.log"))
                tails = "\n".join(p.read_text(errors="replace")[-2000:] for p in log)
                raise AssertionError(f"worker {process.pid} exited {process.returncode}:\n{tails}")

    def stop(self) -> list[int]:
        """Once every worker has entered its loop, SIGTERM them all and return their exit
        codes (0: a graceful stop)."""
        for process in self.processes:
            self._wait_until_looping(process)
            process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=120) for process in self.processes]

    def _wait_until_looping(self, process: subprocess.Popen[bytes]) -> None:
        # A worker still importing Django has no SIGTERM handler yet and would just die.
        log = self.log_of[process.pid]
        deadline = time.monotonic() + 120
        while b" started" not in log.read_bytes():
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"worker {process.pid} never started:\n{log.read_text()}")
            time.sleep(0.05)  # polling the worker's log for its start line

    def kill_all(self) -> None:
        """SIGKILL whatever is still running (cleanup after a failure)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def run_with_kills(
    *,
    database: ScenarioDatabase,
    pool: WorkerPool,
    kill_at: list[int],
    deadline: float,
    rng: random.Random,
) -> int:
    """Poll the database until no journey is active and no email is queued, SIGKILLing a
    random worker each time the finished work passes the next mark of `kill_at`; return
    the number of kills. Fails once `deadline` (a time.monotonic() value) passes."""
    marks, kills = sorted(kill_at), 0
    while True:
        pool.assert_running()
        finished = database.scalar(PROGRESS)
        while marks and finished >= marks[0]:
            marks.pop(0)
            pool.kill_one(rng)
            kills += 1
        if _all_done(database):
            return kills
        if time.monotonic() > deadline:
            raise AssertionError(f"not done before the deadline: {finished} steps finished")
        time.sleep(0.05)  # polling interval of the database count


def _all_done(database: ScenarioDatabase) -> bool:
    return database.scalar(ACTIVE_ENROLLMENTS) == 0 and database.scalar(QUEUED_MESSAGES) == 0


def received_message_ids(directory: Path) -> Counter[int]:
    """How many times the SMTP server received each message, by X-Aftersale-Message."""
    parser = BytesHeaderParser()
    received: Counter[int] = Counter()
    for path in directory.glob("*.eml"):
        header = parser.parsebytes(path.read_bytes())["X-Aftersale-Message"]
        received[int(header)] += 1
    return received


def lines_until(prefix: str, stream: IO[str]) -> list[str]:
    """The lines read from `stream` up to and including the first starting `prefix`."""
    lines = []
    for line in stream:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"the output ended without a line starting {prefix!r}: {lines}")


def rest_of_output(process: subprocess.Popen[str], *, timeout: float = 60) -> str:
    """What `process` writes to its stdout from where `lines_until` stopped reading until
    it exits (within `timeout` seconds). `communicate(timeout=...)` would read the pipe's
    file descriptor itself and lose the lines `lines_until`'s read-ahead already holds."""
    assert process.stdout is not None
    process.wait(timeout=timeout)
    return process.stdout.read()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
