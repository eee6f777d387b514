"""Production mode's real parts for the tests and benchmarks/soak.py: Celery workers and
beat as OS processes (each restartable after a SIGKILL), a redis-server and a PostgreSQL
server of their own that can be stopped and started again on the same port, and waiting
on observable state with a deadline.

    celery = Celery(env=..., logs=..., commands=commands())
    celery.start("send"); celery.kill("send"); celery.assert_running(); celery.stop()
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from aftersale.worker.tests.crash_scenario import ScenarioDatabase, child_env, run_aftersale

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Celery:
    """The production processes of one run: workers by name and the beat, each
    restartable after a SIGKILL, with their output in `logs`."""

    env: dict[str, str]
    logs: Path
    commands: dict[str, list[str]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0
    starts_of: dict[str, int] = field(default_factory=dict)  # the number of each one's log

    def start(self, *names: str) -> None:
        """Start processes `names` side by side and wait until each is ready (a worker)
        or running (beat)."""
        launched = [(name, self._launch(name)) for name in names]
        for name, path in launched:
            ready = b"beat: Starting" if name == "beat" else b" ready."
            deadline = time.monotonic() + 120
            while ready not in path.read_bytes():
                if self.processes[name].poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{name} did not start:\n{path.read_text()[-3000:]}")
                time.sleep(0.05)  # polling the process's log for its ready line

    def _launch(self, name: str) -> Path:
        self.starts += 1
        self.starts_of[name] = self.starts
        path = self.logs / f"{name}-{self.starts}.log"
        with path.open("wb") as log:
            self.processes[name] = subprocess.Popen(
                self.commands[name], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return path

    def kill(self, name: str) -> None:
        """SIGKILL process `name`, wait for it to die and start it again."""
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(timeout=30)
        self.start(name)

    def assert_running(self) -> None:
        """Fail, with the tails of every log, if a process ended that nobody killed."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                # The whole end of the one that exited (its traceback), a little of the rest.
                own = self.logs / f"{name}-{self.starts_of[name]}.log"
                others = sorted(p for p in self.logs.glob("*.log") if p != own)
                tails = "\n".join(p.read_text()[-1500:] for p in others)
                raise AssertionError(
                    f"{name} exited {process.returncode}:\n{own.read_text()[-8000:]}\n"
                    f"--- the other logs:\n{tails}"
                )

    def stop(self) -> None:
        """SIGTERM every process still running and wait for it (SIGKILL after 30 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def commands(*, senders: int = 1) -> dict[str, list[str]]:
    """The command lines of the `send` worker (and `send-2`... up to `senders`), the
    `default` worker (default, ingest and fit queues) and beat: the senders through
    `aftersale celery-worker`, the default worker through `celery -A` itself."""
    aftersale = [sys.executable, "-m", "aftersale.cli"]
    celery = [sys.executable, "-m", "celery", "-A", "aftersale.production"]
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    sending = {
        "send" if n == 1 else f"send-{n}": [
            *aftersale,
            *("celery-worker", "--pool=solo", "--queues=send"),
            "--hostname=send@%h" if n == 1 else f"--hostname=send{n}@%h",
        ]
        for n in range(1, senders + 1)
    }
    return {
        **sending,
        "default": [
            *celery,
            "worker",
            "--pool=solo",
            "--queues=default,ingest,fit",
            "--hostname=default@%h",
            "--loglevel=INFO",
            *quiet,
        ],
        "beat": [*aftersale, "beat"],
    }


@dataclass
class RedisServer:
    """A redis-server on `port` keeping nothing on disk (unless `keep`: an append-only
    file in `directory`), stopped and started again on the same port (without `keep`
    every task in it is lost: the database must be the source of truth)."""

    port: int
    directory: Path
    keep: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start redis-server and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "yes" if self.keep else "no"]
        command += ["--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        try:
            wait_for(
                client.ping,
                what="redis-server to answer",
                seconds=30,
                errors=(redis.ConnectionError,),
            )
        finally:
            client.close()

    def restart(self, *, outage_seconds: float = 2.0) -> None:
        """Stop the server, leave the broker away for `outage_seconds`, start it again."""
        self.stop()
        time.sleep(outage_seconds)  # the outage itself: the broker away, as in a real restart
        self.start()

    def stop(self) -> None:
        """Stop the server (SIGTERM) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def wait_for(
    condition: Callable[[], object],
    *,
    what: str,
    seconds: float,
    errors: tuple[type[BaseException], ...] = (),
    interval: float = 0.05,
) -> object:
    """Call `condition` until it returns something true (returned) or `seconds` pass
    (AssertionError naming `what`); exceptions of `errors` count as not yet."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = condition()
            if result:
                return result
        except errors:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f}s for {what}")
        time.sleep(interval)  # polling observable state


@dataclass
class PostgresServer:
    """A PostgreSQL server of its own (scripts/postgres) in a directory of /tmp that the
    postgres user can reach, stopped as a crash does (immediate mode: no checkpoint,
    recovery at the next start) and started again on the same data directory and port;
    `remove()` stops it and deletes the directory."""

    directory: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="aftersale-postgres-"))
    )
    url: str = ""  # postgresql://postgres@127.0.0.1:PORT/aftersale once started

    def __post_init__(self) -> None:
        self.directory.chmod(0o755)  # initdb runs as the postgres user when root starts it

    def start(self) -> None:
        """Start the server (initialising the data directory the first time)."""
        line = subprocess.run(
            [REPO / "scripts" / "postgres", "start", self.directory],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        self.url = line.strip().split("=", 1)[1]

    def stop(self) -> None:
        """Stop the server at once; every connection to it breaks."""
        subprocess.run([REPO / "scripts" / "postgres", "stop", self.directory], check=True)

    def restart(self, *, outage_seconds: float = 2.0) -> None:
        """Stop the server, leave it away for `outage_seconds`, start it again."""
        self.stop()
        time.sleep(outage_seconds)  # the outage itself: the database away
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def settings(self) -> dict[str, str]:
        """HOST, PORT, USER and PASSWORD of the server, as Django's DATABASES names them
        (crash_scenario.fresh_postgres_database makes a database on it)."""
        address = self.url.split("@", 1)[1].split("/", 1)[0]
        host, port = address.rsplit(":", 1)
        return {"HOST": host, "PORT": port, "USER": "postgres", "PASSWORD": ""}


def deliver(
    *,
    count: Callable[[], int],
    target: int,
    seconds: float,
    celery: Celery,
    during: Callable[[int], object] = lambda delivered: None,
    errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Poll `count()` (the emails delivered) until it reaches `target`, calling
    `during(delivered)` after each read (where a run kills or restarts things), and
    failing if a process nobody killed has ended or `seconds` pass; a read that raises
    one of `errors` (the database being restarted) counts as no progress. Returns the
    count reached."""
    deadline = time.monotonic() + seconds
    delivered = 0
    while True:
        celery.assert_running()
        with contextlib.suppress(*errors):
            delivered = count()
        if delivered >= target:
            return delivered
        during(delivered)
        if time.monotonic() > deadline:
            raise AssertionError(f"{delivered} of {target} emails delivered in {seconds:.0f}s")
        time.sleep(0.05)  # polling interval of the database count


def enroll_journeys(database: ScenarioDatabase, *, count: int) -> None:
    """Enroll `count` buyers in the three-email flow (journey_data.populate) in a child
    process on `database`; fails unless all of them were enrolled."""
    code = f"from aftersale.production.tests.journey_data import populate; populate(count={count})"
    output = run_aftersale(database, "shell", "-c", code)
    assert f'"enrollments": {count}' in output, output


def production_env(
    database: ScenarioDatabase, *, broker_url: str, clock_file: Path, smtp_port: int, **extra: str
) -> dict[str, str]:
    """The environment of production-mode processes on `database`: the broker, the clock
    file every process reads, beat ticking twice a second, the SMTP relay on 127.0.0.1,
    INFO logs (their ready lines), and `extra` (lease, batch size...)."""
    return child_env(
        database,
        AFTERSALE_BROKER_URL=broker_url,
        AFTERSALE_TEST_CLOCK_FILE=str(clock_file),
        AFTERSALE_BEAT_TICK_SECONDS="0.5",
        AFTERSALE_SMTP_HOST="127.0.0.1",
        AFTERSALE_SMTP_PORT=str(smtp_port),
        AFTERSALE_LOG_LEVEL="INFO",
        **extra,
    )
