"""Scale benchmark: one sending workload run by 1, 2 and 4 Celery worker processes on
PostgreSQL and Redis, and by the embedded worker on SQLite, in one run.

    .venv/bin/python benchmarks/scale.py [--quick] [--customers N] [--workers 1,2,4]
        [--every-queue] [--database-url postgresql://...] [--format text|json]

The workload: N customers (default 200,000; --quick 500), each with a paid order
placed through the real services, enrolled in a live flow [delay 1 hour, thank-you
email]. The processes start with the journeys not yet due; then their clock (the clock
file every process reads, lib.clock.OffsetFileClock) moves on two hours and the run is
timed until every email is delivered to the SMTP sink: every journey's delay advanced,
its email claimed, rendered, handed to the relay and recorded.

Each Celery run gets a copy of one populated PostgreSQL database (CREATE DATABASE ...
TEMPLATE), so every run starts from the same rows. The Celery processes start once (beat
and the first worker for the first run, the workers a larger run adds before it), on one
database name that is replaced by a fresh copy before each run (_celery_runs). The
workers (`--pool=solo`, one process each, beside one beat) are laid out as
docs/deployment.md's process list has them: the first takes the scheduler's `default`
queue and `send`, the others `send` only; `--every-queue` gives every worker both
(several workers then run the scheduler's tick side by side, which costs CPU for
nothing: see docs/deployment.md).

PostgreSQL (a server started here with scripts/postgres unless --database-url names one
on this machine), Redis (scripts/redis) and the sink (Postfix's smtp-sink,
scripts/smtp-sink) are shared by the runs. The CPU per email counts every process of
the run: workers, beat, PostgreSQL and its backends, Redis, the sink.

`--format json` prints {"customers", "workers": {"1": …, "2": …, "4": …}, "embedded": …}
in emails per second, {"cpu_per_email_us": {"1": …, …}}, and the two ratios the issue
sets goals for: "speedup_2" (2 workers over one; goal >= 1.3) and "cpu_ratio_4" (CPU per
email with 4 workers over one; goal <= 1.15); and, to size each tier, PostgreSQL's share
("pg_cpu_per_email_us", "emails_per_pg_core"), the workers' and beat's
("worker_cpu_per_email_us", "emails_per_worker_core") and "wal_bytes_per_email".
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smtp_sink import Sink, smtp_sink
from throwaway_database import postgres_database

ROOT = Path(__file__).resolve().parent.parent
SCALE_FLOW = {
    "name": "Scale",
    "trigger": {"event": "any_purchase"},
    "exit_when": [],
    # Guards off so the wall-clock hour (quiet hours) cannot hold an email back, and no
    # holdout: every journey gets its email.
    "guards": {"quiet_hours": None, "smart_sending_hours": 0},
    "holdout_percent": 0,
    "steps": [{"type": "delay", "hours": 1}, {"type": "email", "template": "thank-you"}],
}
DUE_OFFSET_SECONDS = 2 * 3600  # past the flow's delay
DUE_IN_SECONDS = 3600  # the flow's delay: a copy's journeys are due this long after its clock
DELIVERED = "SELECT count(*) FROM messaging_message WHERE status = 'delivered'"
UNFINISHED = (
    "SELECT (SELECT count(*) FROM flows_enrollment WHERE state = 'active')"
    " + (SELECT count(*) FROM messaging_message WHERE status = 'queued')"
)
RUN_LIMIT_SECONDS = 3600
PLAIN_EVERY_SECONDS = 15  # a progress line this often when the output is no terminal


def main() -> None:
    """Parse the arguments, run the workload in every configuration, print the result."""
    args = _arguments()
    customers = args.customers or (500 if args.quick else 200_000)
    sizes = [int(n) for n in args.workers.split(",")]
    console = Console(stderr=True)
    # The processes started here keep the bytecode they compile (__pycache__, as an
    # installed package has it), so that every later start reads it instead of compiling
    # every module again: with PYTHONDONTWRITEBYTECODE set, compiling was most of a
    # worker's start (4 s of CPU), which no installation pays.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with ExitStack() as stack:
        base = args.database_url or stack.enter_context(_server("postgres"))
        broker = stack.enter_context(_server("redis"))
        sink = stack.enter_context(smtp_sink())
        result = _run_all(
            customers=customers, sizes=sizes, base=base, broker=broker, sink=sink,
            console=console, every_queue=args.every_queue,
        )  # fmt: skip
    result["sink"] = sink.name
    if args.format == "json":
        print(json.dumps({k: result[k] for k in _JSON_KEYS}))
    else:
        _print(result)


_JSON_KEYS = (
    "customers", "workers", "embedded", "cpu_per_email_us", "pg_cpu_per_email_us",
    "emails_per_pg_core", "worker_cpu_per_email_us", "emails_per_worker_core",
    "wal_bytes_per_email", "speedup_2", "cpu_ratio_4",
)  # fmt: skip


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 customers")
    parser.add_argument("--customers", type=int, default=0, help="default 200,000")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server on this machine")
    parser.add_argument("--every-queue", action="store_true", help="every worker runs ticks")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


def _run_all(
    *, customers: int, sizes: list[int], base: str, broker: str, sink: Sink, console: Console,
    every_queue: bool,
) -> dict[str, Any]:  # fmt: skip
    secret = {"AFTERSALE_SECRET_KEY": secrets.token_urlsafe(50)}
    with tempfile.TemporaryDirectory(prefix="aftersale-scale-") as scratch:
        home = Path(scratch)
        lite = {**secret, "AFTERSALE_HOME": str(home / "embedded"),
                "AFTERSALE_DATABASE_URL": f"sqlite:///{home}/embedded.sqlite3"}  # fmt: skip
        with postgres_database(base, prefix="aftersale_scale") as template:
            populated = {**secret, "AFTERSALE_HOME": str(home), "AFTERSALE_DATABASE_URL": template}
            # Both populations at once: neither is timed, and each is one process.
            _populate([populated, lite], customers=customers, console=console)
            celery = _celery_runs(
                populated, template=template, sizes=sorted(sizes), sink=sink,
                customers=customers, home=home, console=console, base=base, broker=broker,
                every_queue=every_queue,
            )  # fmt: skip
        embedded = _embedded_run(lite, sink=sink, customers=customers, home=home, console=console)
    return _result(customers=customers, celery=celery, embedded=embedded)


def _result(*, customers: int, celery: dict[str, Run], embedded: Run) -> dict[str, Any]:
    """The figures of every run, as --format json prints them (and a few more)."""
    rates = {size: run.emails_per_s for size, run in celery.items()}
    cpu = {size: run.cpu_per_email_us for size, run in celery.items()}
    pg = {size: run.pg_cpu_per_email_us for size, run in celery.items()}
    one = rates.get("1")
    return {
        "customers": customers,
        "workers": rates,
        "embedded": embedded.emails_per_s,
        "embedded_cpu_per_email_us": embedded.cpu_per_email_us,
        "cpu_per_email_us": cpu,
        "pg_cpu_per_email_us": pg,
        "emails_per_pg_core": {size: 1e6 / us if us else None for size, us in pg.items()},
        "worker_cpu_per_email_us": {s: r.worker_cpu_per_email_us for s, r in celery.items()},
        "emails_per_worker_core": {
            s: 1e6 / r.worker_cpu_per_email_us if r.worker_cpu_per_email_us else None
            for s, r in celery.items()
        },
        "wal_bytes_per_email": {s: r.wal_bytes_per_email for s, r in celery.items()},
        "speedup_2": rates["2"] / one if one and "2" in rates else None,
        "cpu_ratio_4": cpu["4"] / cpu["1"] if "1" in cpu and "4" in cpu else None,
        "load": os.getloadavg(),
    }


@contextmanager
def _server(kind: str) -> Iterator[str]:
    """A throwaway PostgreSQL or Redis server started with scripts/KIND: its URL."""
    with tempfile.TemporaryDirectory(prefix=f"aftersale-scale-{kind}-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user
        line = subprocess.run(
            [ROOT / "scripts" / kind, "start", f"{directory}/data"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        try:
            yield line.strip().splitlines()[-1].split("=", 1)[1]
        finally:
            subprocess.run([ROOT / "scripts" / kind, "stop", f"{directory}/data"], check=False)


def _populate(envs: list[dict[str, str]], *, customers: int, console: Console) -> None:
    """Migrate the database each of `envs` names and enroll `customers` buyers in the
    Scale flow, one process per database, side by side."""
    # The store's daily fit and weekly evaluation done now, so that no run spends its
    # time on them (the embedded worker would run both first). Migrated in the same
    # process: one Django start per database.
    code = (
        "from aftersale.lib import installation; installation.prepare(); "
        "import django; django.setup(); "
        "from django.core.management import call_command; "
        "call_command('migrate', verbosity=0, interactive=False); "
        "from aftersale.worker.tests.crash_data import populate; "
        "from aftersale.lib.clock import now; "
        "from aftersale.recommendations.live import evaluate_due_stores; "
        "from aftersale.recommendations.services import fit_due_stores; "
        f"populate(count={customers}, definition={SCALE_FLOW!r}, slug='scale'); "
        "fit_due_stores(now=now()); evaluate_due_stores(now=now())"
    )
    started = []
    for env in envs:
        console.print(f"populating {customers:,} journeys ({env['AFTERSALE_DATABASE_URL'][:10]}…)")
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "aftersale.settings", **env}
        pipe = subprocess.PIPE
        command = [sys.executable, "-c", code]
        process = subprocess.Popen(command, env=environment, stdout=pipe, stderr=pipe, text=True)
        started.append(process)
    for process in started:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"populating failed:\n{err[-3000:]}")
        enrolled = json.loads(out.strip().splitlines()[-1])
        if enrolled["enrollments"] != customers:
            raise SystemExit(f"populate enrolled {enrolled['enrollments']} of {customers}")


@dataclass(frozen=True)
class Run:
    """What one configuration measured: emails/s, and CPU per email of every process and
    of the two tiers one sizes, PostgreSQL (server and backends) and the workers (with
    beat); the WAL PostgreSQL wrote per email."""

    emails_per_s: float
    cpu_per_email_us: float
    pg_cpu_per_email_us: float | None = None
    worker_cpu_per_email_us: float | None = None
    wal_bytes_per_email: float | None = None


RUN_DATABASE_SUFFIX = "_run"


def _celery_runs(
    env: dict[str, str], *, template: str, sizes: list[int], sink: Sink, customers: int,
    home: Path, console: Console, base: str, broker: str, every_queue: bool,
) -> dict[str, Run]:  # fmt: skip
    """Time 1, 2, 4... Celery workers and one beat delivering the workload in `env`, each
    run on a fresh copy of the populated database `template`. The processes start once:
    beat and the first worker for the first run, the workers a larger run adds before it.
    They all use one database name; before each run that database is replaced by a new
    copy of the template whose journeys' due times are moved by one shift, to an hour
    after the processes' clock (which never runs backwards). Every copy gets the shift
    (and a VACUUM after it), the first one too, so that every run starts from the same
    rows in the same state."""
    server, _, template_name = template.rpartition("/")
    url = f"{template}{RUN_DATABASE_SUFFIX}"
    clock = home / "clock-celery"
    clock.write_text("0")
    run_env = _run_env({**env, "AFTERSALE_DATABASE_URL": url, "AFTERSALE_BROKER_URL": broker},
                       port=sink.port, clock=clock)  # fmt: skip
    celery = [sys.executable, "-m", "celery", "-A", "aftersale.production", "worker"]
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--pool=solo"]
    # The queues that carry the workload's tasks: the tick (default) and the sends.
    queues = ["default,send" if n == 0 or every_queue else "send" for n in range(max(sizes))]
    commands = [
        [*celery, *quiet, f"--queues={q}", "--loglevel=INFO", f"--hostname=w{n}@%h"]
        for n, q in enumerate(queues)
    ]
    beat = [sys.executable, "-m", "aftersale.cli", "beat"]
    shared = [_redis_server(broker), psutil.Process(sink.pid)]
    postmaster = _postmaster(base)
    runs: dict[str, Run] = {}
    with _AdminConnection(server) as admin:
        with ExitStack() as stack:
            running: list[psutil.Process] = []  # beat and the workers started so far
            workers_up = 0
            for n, size in enumerate(sizes):
                offset = n * DUE_OFFSET_SECONDS  # the processes' clock now
                admin.replace(url.rpartition("/")[2], template=template_name,
                              due_in=offset + DUE_IN_SECONDS)  # fmt: skip
                added = ([] if running else [beat]) + commands[workers_up:size]
                workers_up = size
                running += stack.enter_context(
                    _processes(added, env=run_env, logs=home / f"logs-{size}")
                )
                runs[str(size)] = _timed_run(
                    label=f"{size} worker{'s' if size > 1 else ''}", url=url, clock=clock,
                    customers=customers, workers=running, shared=shared,
                    postmaster=postmaster, admin=admin, console=console,
                    offset=offset + DUE_OFFSET_SECONDS,
                )  # fmt: skip
        admin.drop(url.rpartition("/")[2])
    return runs


class _AdminConnection:
    """A connection to the server's `postgres` database, to copy and drop databases and
    read the WAL position."""

    def __init__(self, server: str) -> None:
        self.server = server

    def __enter__(self) -> _AdminConnection:
        self.connection = psycopg.connect(f"{self.server}/postgres", autocommit=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def replace(self, name: str, *, template: str, due_in: float) -> None:
        """Make database `name` a new copy of `template` whose journeys are due `due_in`
        seconds after now (the clock file's offset included in `due_in`), ending the
        connections to the old one (the processes connect again for their next task)."""
        self.connection.execute(f'CREATE DATABASE "{name}_next" TEMPLATE "{template}"')
        with psycopg.connect(f"{self.server}/{name}_next", autocommit=True) as copy:
            copy.execute(
                "UPDATE flows_enrollment SET due_at = due_at + (now() + make_interval("
                "secs => %s) - (SELECT min(due_at) FROM flows_enrollment WHERE state = "
                "'active')) WHERE state = 'active'",
                [due_in],
            )
            copy.execute("VACUUM ANALYZE flows_enrollment")
        self.drop(name)
        self.connection.execute(f'ALTER DATABASE "{name}_next" RENAME TO "{name}"')

    def drop(self, name: str) -> None:
        """Drop database `name` if it exists, with the connections to it."""
        self.connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wal_position(self) -> int:
        """The server's WAL position (bytes since its start)."""
        row = self.connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
        ).fetchone()
        return int(row[0]) if row else 0


def _embedded_run(
    env: dict[str, str], *, sink: Sink, customers: int, home: Path, console: Console
) -> Run:
    """Time one embedded `aftersale worker` delivering the workload on SQLite."""
    clock = home / "clock-embedded"
    clock.write_text("0")
    run_env = _run_env(env, port=sink.port, clock=clock)
    command = [sys.executable, "-m", "aftersale.cli", "worker"]
    with _processes([command], env=run_env, logs=home / "logs-embedded") as processes:
        return _timed_run(
            label="embedded", url=env["AFTERSALE_DATABASE_URL"], clock=clock,
            customers=customers, workers=processes, shared=[psutil.Process(sink.pid)],
            console=console,
        )  # fmt: skip


def _run_env(env: dict[str, str], *, port: int, clock: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aftersale.settings",
        **env,
        "AFTERSALE_TEST_CLOCK_FILE": str(clock),
        "AFTERSALE_BEAT_TICK_SECONDS": "0.5",
        "AFTERSALE_SMTP_HOST": "127.0.0.1",
        "AFTERSALE_SMTP_PORT": str(port),
        "AFTERSALE_LOG_LEVEL": "INFO",  # the processes' ready lines
    }


@contextmanager
def _processes(
    commands: list[list[str]], *, env: dict[str, str], logs: Path
) -> Iterator[list[psutil.Process]]:
    """Start `commands`, wait until each has connected to the database or broker, and
    stop them all afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for n, command in enumerate(commands):
            with (logs / f"{n}.log").open("wb") as log:
                started.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
        counted = [psutil.Process(p.pid) for p in started]
        _wait_started(started, logs=logs)
        yield counted
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_started(started: list[subprocess.Popen[bytes]], *, logs: Path) -> None:
    ready = (b" ready.", b"beat: Starting", b" started")  # Celery worker, beat, embedded
    deadline = time.monotonic() + 120
    for n, process in enumerate(started):
        log = logs / f"{n}.log"
        while not any(mark in log.read_bytes() for mark in ready):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{' '.join(process.args)} did not start:\n{log.read_text()}")  # type: ignore[arg-type]
            time.sleep(0.05)  # polling the process's log for its ready line
    for n, process in enumerate(started):
        if process.poll() is not None:
            raise SystemExit(f"{' '.join(process.args)} exited:\n{(logs / f'{n}.log').read_text()}")  # type: ignore[arg-type]


def _timed_run(
    *, label: str, url: str, clock: Path, customers: int, workers: list[psutil.Process],
    shared: list[psutil.Process], console: Console, postmaster: psutil.Process | None = None,
    admin: _AdminConnection | None = None, offset: float = DUE_OFFSET_SECONDS,
) -> Run:  # fmt: skip
    """Move the clock to `offset` (past the delay) and time the run until every email is delivered;
    the CPU over that time per email of every process (`workers`, `shared`, `postmaster`,
    with their children), of the PostgreSQL server and of the workers alone; and the WAL
    written per email."""
    tiers = {"workers": workers, "pg": [postmaster] if postmaster else [], "shared": shared}
    cpu_before = {tier: _cpu_seconds(roots) for tier, roots in tiers.items()}
    wal_before = admin.wal_position() if admin else 0
    started = time.perf_counter()
    clock.write_text(str(offset))
    with _progress(console) as progress, _Count(url) as count:
        task = progress.add_task(label, total=customers)
        reported = started
        while count.of(UNFINISHED):
            progress.update(task, completed=count.of(DELIVERED))
            if not console.is_terminal and time.perf_counter() - reported > PLAIN_EVERY_SECONDS:
                reported = time.perf_counter()
                console.print(f"{label}: {count.of(DELIVERED):,} of {customers:,} delivered")
            if time.perf_counter() - started > RUN_LIMIT_SECONDS:
                raise SystemExit(f"{label}: not done within {RUN_LIMIT_SECONDS} s")
            time.sleep(0.1)  # polling interval of the counts
        delivered = count.of(DELIVERED)
        progress.update(task, completed=delivered)
    elapsed = time.perf_counter() - started
    if delivered != customers:
        raise SystemExit(f"{label}: {delivered} emails delivered, {customers} expected")
    cpu = {tier: _cpu_seconds(roots) - cpu_before[tier] for tier, roots in tiers.items()}
    per_email = {tier: seconds / customers * 1e6 for tier, seconds in cpu.items()}
    return Run(
        emails_per_s=customers / elapsed,
        cpu_per_email_us=sum(per_email.values()),
        pg_cpu_per_email_us=per_email["pg"] if postmaster else None,
        worker_cpu_per_email_us=per_email["workers"],
        wal_bytes_per_email=(admin.wal_position() - wal_before) / customers if admin else None,
    )


def _progress(console: Console) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    return Progress(*columns, console=console, disable=not console.is_terminal)


class _Count:
    """Counts read off the database at `url` on one open connection."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> _Count:
        if self.url.startswith("sqlite:///"):
            self.connection: Any = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
        else:
            self.connection = psycopg.connect(self.url, autocommit=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def of(self, sql: str) -> int:
        """The number `sql` selects now."""
        row = self.connection.execute(sql).fetchone()
        if isinstance(self.connection, sqlite3.Connection):
            self.connection.commit()  # ends the read, so the next one sees new rows
        return int(row[0]) if row else 0


def _cpu_seconds(roots: list[psutil.Process]) -> float:
    """CPU time (user + system) of `roots`, their live descendants and the children they
    have reaped (PostgreSQL's ended backends count in the postmaster's children)."""
    total = 0.0
    for root in roots:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _postmaster(url: str) -> psutil.Process:
    """The PostgreSQL server process behind `url` (it must run on this machine)."""
    with psycopg.connect(url.rpartition("/")[0] + "/postgres") as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        # Asked while the backend still runs: it ends with the connection.
        postmaster = psutil.Process(int(row[0]) if row else 0).parent()
    if postmaster is None:
        raise SystemExit("cannot find the PostgreSQL server's process: is it on this machine?")
    return postmaster


def _redis_server(url: str) -> psutil.Process:
    client = redis.Redis.from_url(url)
    pid = int(client.info("server")["process_id"])
    client.close()
    return psutil.Process(pid)


def _print(result: dict[str, Any]) -> None:
    load = " ".join(f"{x:.1f}" for x in result["load"])
    print(f"{result['customers']:,} emails per run, to {result['sink']} (load {load}):")
    print("  run           emails/s   CPU µs per email: all  workers  PostgreSQL"
          "   emails per PG core  WAL B/email")  # fmt: skip
    for size, rate in result["workers"].items():
        cpu, pg = result["cpu_per_email_us"][size], result["pg_cpu_per_email_us"][size]
        worker, wal = result["worker_cpu_per_email_us"][size], result["wal_bytes_per_email"][size]
        print(f"  {size} worker(s)   {rate:8,.0f}   {cpu:21,.0f}  {worker:7,.0f}  {pg:10,.0f}"
              f"   {result['emails_per_pg_core'][size]:18,.0f}  {wal:11,.0f}")  # fmt: skip
    print(f"  embedded      {result['embedded']:8,.0f}   "
          f"{result['embedded_cpu_per_email_us']:21,.0f}  (SQLite)")  # fmt: skip
    if result["speedup_2"] is not None:
        print(f"  2 workers over 1: {result['speedup_2']:.2f}x (goal >= 1.3)")
    if result["cpu_ratio_4"] is not None:
        print(f"  CPU per email, 4 workers over 1: {result['cpu_ratio_4']:.2f} (goal <= 1.15)")
    print("  (workers: the Celery workers and beat; all: also PostgreSQL, Redis, the sink)")


if __name__ == "__main__":
    main()
