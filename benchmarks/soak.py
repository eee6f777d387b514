"""Soak benchmark of production mode (not in CI): N enrollments through a three-email
flow on real parts, with SIGKILLs of random Celery workers and of beat at random moments
(each restarted at once) and, on request, the broker, the database or the relay taken
away mid-run.

    .venv/bin/python benchmarks/soak.py [--quick] [--enrollments N] [--kills K]
        [--send-workers W] [--restart-postgres] [--restart-redis] [--smtp-down SEC]
        [--seed S] [--format text|json]

It starts everything of its own on 127.0.0.1: a PostgreSQL server (scripts/postgres, so
that it may be restarted), a redis-server, an SMTP sink in a process of its own that
records the X-Aftersale-Message id of every email it accepts (one line each: the run
checks ids, not bodies), W `send` workers, the `default` worker and beat (the production
tests' processes: aftersale/production/tests/real_parts.py). It enrolls N first-time
buyers in the three-email flow of the production tests (journey_data.populate), then
moves the workers' clock (AFTERSALE_TEST_CLOCK_FILE) a day at a time: each wave makes
every journey's next email due and waits until all are delivered.

The K kills and the faults fall at random numbers of emails delivered over the run:
`--restart-redis` (a 3 s outage; Redis keeps nothing), `--restart-postgres` (stopped as
a crash does, 3 s, started again on the same data directory), `--smtp-down SEC` (the
sink stopped for SEC seconds; once back the workers' clock is moved past their sending
pause, 15 minutes at most, so the run need not wait it out).

Checks, printed with the figures (`--format json`: one object): every email queued
reached the sink; none more than once, except at most one per kill, PostgreSQL restart
and sink stop (the documented window: the relay accepted it, the record did not
happen); nothing stuck (no journey active, no email queued at the end, and progress at
least every STUCK_SECONDS); the flow report's sent and delivered counts equal the sink's.
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
# The database lives only as long as the run: a throwaway key signs its links.
os.environ.setdefault("AFTERSALE_SECRET_KEY", secrets.token_urlsafe(50))
# No holdout group: every journey gets its three emails, so the sink accounts for all.
os.environ.setdefault("AFTERSALE_HOLDOUT_PERCENT", "0")

from aftersale.production.tests.journey_data import DAYS_BETWEEN, EMAILS_PER_JOURNEY  # noqa: E402
from aftersale.production.tests.real_parts import (  # noqa: E402
    Celery,
    PostgresServer,
    RedisServer,
    commands,
    enroll_journeys,
    production_env,
)
from aftersale.worker.tests.crash_scenario import (  # noqa: E402
    ScenarioDatabase,
    free_port,
    fresh_postgres_database,
    migrated,
    run_aftersale,
)

DELIVERED = "SELECT count(*) FROM messaging_message WHERE status = 'delivered'"
STUCK_SECONDS = 180.0  # longest wait for the next delivered email (restarts included)
OUTAGE_SECONDS = 3.0
SEND_PAUSE_MAX = dt.timedelta(minutes=15)  # worker.loop's: the clock jump after a sink stop
WAVE_GAP = dt.timedelta(days=DAYS_BETWEEN) + dt.timedelta(minutes=10)


def main() -> None:
    """Parse the arguments, run the soak, print its figures; exit 1 if a check failed."""
    args = _arguments()
    enrollments = args.enrollments or (2_000 if args.quick else 100_000)
    kills = args.kills if args.kills is not None else (3 if args.quick else 10)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    result = soak(
        enrollments=enrollments,
        kills=kills,
        send_workers=args.send_workers,
        restart_postgres=args.restart_postgres,
        restart_redis=args.restart_redis,
        smtp_down=args.smtp_down,
        seed=seed,
    )
    if args.format == "json":
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    sys.exit(0 if result["ok"] else 1)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 enrollments, 3 kills")
    parser.add_argument("--enrollments", type=int, help="journeys (default 100,000)")
    parser.add_argument("--kills", type=int, help="SIGKILLs over the run (default 10)")
    parser.add_argument("--send-workers", type=int, default=2, help="send workers (2)")
    parser.add_argument("--restart-postgres", action="store_true")
    parser.add_argument("--restart-redis", action="store_true")
    parser.add_argument("--smtp-down", type=float, default=0.0, metavar="SEC")
    parser.add_argument("--seed", type=int, help="the random kills' and faults' seed")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    return parser.parse_args()


@dataclass
class _Event:
    """Something done to the run once `at` emails are delivered."""

    at: int
    kind: str  # "kill", "redis", "postgres", "smtp"


@dataclass
class _Run:
    """The parts of one soak and what was done to them."""

    database: ScenarioDatabase
    celery: Celery
    redis: RedisServer
    postgres: PostgresServer
    sink: _Sink
    clock_file: Path
    rng: random.Random
    offset: dt.timedelta = dt.timedelta(0)  # the clock's offset beyond the waves'
    done: Counter[str] = field(default_factory=Counter)
    sink_back_at: float | None = None

    def move_clock(self, wave: int) -> None:
        """Make email `wave` (from 0) of every journey due."""
        seconds = (wave * WAVE_GAP + self.offset).total_seconds()
        self.clock_file.write_text(str(seconds))

    def apply(self, event: _Event, *, smtp_down: float) -> None:
        """Do `event` to the run, counting it."""
        self.done[event.kind] += 1
        if event.kind == "kill":
            victims = sorted(self.celery.processes)
            self.celery.kill(self.rng.choice(victims))
        elif event.kind == "redis":
            self.redis.restart(outage_seconds=OUTAGE_SECONDS)
        elif event.kind == "postgres":
            self.postgres.restart(outage_seconds=OUTAGE_SECONDS)
        elif event.kind == "smtp":
            self.sink.stop()
            self.sink_back_at = time.monotonic() + smtp_down

    def maybe_bring_the_sink_back(self, wave: int) -> None:
        """Once a stopped sink's time is up, start it and move the workers' clock past
        their sending pause."""
        if self.sink_back_at is not None and time.monotonic() >= self.sink_back_at:
            self.sink.start()
            self.sink_back_at = None
            self.offset += SEND_PAUSE_MAX
            self.move_clock(wave)


def soak(
    *,
    enrollments: int,
    kills: int,
    send_workers: int,
    restart_postgres: bool,
    restart_redis: bool,
    smtp_down: float,
    seed: int,
) -> dict[str, Any]:
    """Run the soak as the module says; return its figures and checks."""
    rng = random.Random(seed)
    total = enrollments * EMAILS_PER_JOURNEY
    kinds = ["kill"] * kills + ["redis"] * restart_redis + ["postgres"] * restart_postgres
    kinds += ["smtp"] * (smtp_down > 0)
    events = sorted(
        (_Event(at=rng.randrange(total // 50, total - total // 50 + 1), kind=k) for k in kinds),
        key=lambda event: event.at,
    )
    work = Path(tempfile.mkdtemp(prefix="aftersale-soak-"))
    if True:
        postgres = PostgresServer()
        postgres.start()
        redis = RedisServer(port=free_port(), directory=work / "redis")
        redis.start()
        sink = _Sink(port=free_port(), ids=work / "received-ids")
        sink.start()
        try:
            with fresh_postgres_database(postgres.settings) as url:
                database = migrated(work / "home", url)
                started = time.monotonic()
                enroll_journeys(database, count=enrollments)
                populated = time.monotonic() - started
                run = _Run(
                    database=database,
                    celery=_celery(database, redis, sink, work, send_workers),
                    redis=redis,
                    postgres=postgres,
                    sink=sink,
                    clock_file=work / "clock-offset-seconds",
                    rng=rng,
                )
                try:
                    run.celery.start(*run.celery.commands)
                    sending = time.monotonic()
                    stuck = _run_waves(run, enrollments=enrollments, events=events, smtp=smtp_down)
                    seconds = time.monotonic() - sending
                finally:
                    run.celery.stop()
                figures = _figures(database)
                report = _report_counts(database)
        finally:
            sink.stop()
            redis.stop()
            postgres.remove()
        received = sink.received()
    result = _result(
        enrollments=enrollments,
        figures=figures,
        report=report,
        received=received,
        done=run.done,
        stuck=stuck,
        seconds=seconds,
        populated=populated,
        seed=seed,
    )
    if result["ok"]:
        shutil.rmtree(work, ignore_errors=True)
    else:
        result["logs"] = str(work / "logs")  # kept for a look
    return result


def _celery(
    database: ScenarioDatabase, redis: RedisServer, sink: _Sink, work: Path, send_workers: int
) -> Celery:
    env = production_env(
        database,
        broker_url=redis.url,
        clock_file=work / "clock-offset-seconds",
        smtp_port=sink.port,
        # A batch (100 rows) takes a few seconds even on a loaded machine, well inside its
        # lease; a killed worker's rows come back after it.
        AFTERSALE_SCHEDULER_LEASE_SECONDS="30",
        AFTERSALE_SCHEDULER_BATCH_SIZE="100",
        AFTERSALE_DB_CONN_MAX_AGE="600",
    )
    (work / "logs").mkdir()
    return Celery(env=env, logs=work / "logs", commands=commands(senders=send_workers))


def _run_waves(run: _Run, *, enrollments: int, events: list[_Event], smtp: float) -> str:
    """Each wave: the journeys' next email due, then poll until all are delivered,
    applying the events as their marks pass; return "" or why the run got stuck."""
    import psycopg

    pending = list(events)
    delivered, progress_at = 0, time.monotonic()
    for wave in range(EMAILS_PER_JOURNEY):
        run.move_clock(wave)
        target = enrollments * (wave + 1)
        while delivered < target:
            run.celery.assert_running()
            try:
                count = run.database.scalar(DELIVERED)
            except psycopg.OperationalError:
                count = delivered  # the database being restarted
            if count > delivered:
                delivered, progress_at = count, time.monotonic()
            while pending and delivered >= pending[0].at:
                run.apply(pending.pop(0), smtp_down=smtp)
                progress_at = time.monotonic()
            run.maybe_bring_the_sink_back(wave)
            waited = time.monotonic() - progress_at
            if waited > STUCK_SECONDS + (smtp if run.sink_back_at else 0):
                return f"stuck at {delivered} of {target} emails delivered for {waited:.0f} s"
            time.sleep(0.1)  # polling interval of the database count
    for event in pending:  # marks beyond what was delivered (none with sane marks)
        run.apply(event, smtp_down=0.0)
    return ""


def _figures(database: ScenarioDatabase) -> dict[str, Any]:
    statuses = dict(database.rows("SELECT status, count(*) FROM messaging_message GROUP BY status"))
    return {
        "ids": {row[0] for row in database.rows("SELECT id FROM messaging_message")},
        "statuses": statuses,
        "active": database.scalar("SELECT count(*) FROM flows_enrollment WHERE state = 'active'"),
    }


def _report_counts(database: ScenarioDatabase) -> dict[str, int]:
    """The flow report's sent and delivered emails (`aftersale report three --format json`)."""
    output = run_aftersale(database, "report", "three", "--store", "three", "--format", "json")
    steps = json.loads(output)["steps"]
    messages = [step["message"] for step in steps if step["message"]]
    return {
        "sent": sum(int(m["sent"]) for m in messages),
        "delivered": sum(int(m["delivered"]) for m in messages),
    }


def _result(
    *,
    enrollments: int,
    figures: dict[str, Any],
    report: dict[str, int],
    received: Counter[int],
    done: Counter[str],
    stuck: str,
    seconds: float,
    populated: float,
    seed: int,
) -> dict[str, Any]:
    expected: set[int] = figures["ids"]
    duplicates = sum(count - 1 for count in received.values())
    missing = len(expected - set(received))
    unknown = len(set(received) - expected)
    allowed = done["kill"] + done["postgres"] + done["smtp"]
    delivered = int(figures["statuses"].get("delivered", 0))
    checks = {
        "none_lost": missing == 0 and len(expected) == enrollments * EMAILS_PER_JOURNEY,
        "none_unknown": unknown == 0,
        "duplicates_within_window": duplicates <= allowed,
        "none_stuck": not stuck and figures["active"] == 0 and delivered == len(expected),
        "report_equals_sink": report["sent"] == report["delivered"] == len(set(received)),
    }
    return {
        "enrollments": enrollments,
        "emails_expected": len(expected),
        "emails_delivered": delivered,
        "received": sum(received.values()),
        "received_once_or_more": len(set(received)),
        "duplicates": duplicates,
        "allowed_duplicates": allowed,
        "missing": missing,
        "kills": done["kill"],
        "redis_restarts": done["redis"],
        "postgres_restarts": done["postgres"],
        "smtp_stops": done["smtp"],
        "report_sent": report["sent"],
        "report_delivered": report["delivered"],
        "statuses": figures["statuses"],
        "active_journeys": figures["active"],
        "stuck": stuck,
        "populate_seconds": round(populated, 1),
        "send_seconds": round(seconds, 1),
        "emails_per_s": round(sum(received.values()) / seconds, 1) if seconds else 0.0,
        "seed": seed,
        "checks": checks,
        "ok": all(checks.values()),
    }


@dataclass
class _Sink:
    """The SMTP sink: a process of its own (this file with `--sink PORT FILE`) accepting
    every email and appending its X-Aftersale-Message id to `ids`; stopped and started
    again on the same port."""

    port: int
    ids: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the sink and wait until it listens."""
        command = [sys.executable, __file__, "--sink", str(self.port), str(self.ids)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "listening":
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        """Stop the sink: connections are refused until it starts again."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def received(self) -> Counter[int]:
        """How many times the sink accepted each message id."""
        if not self.ids.exists():
            return Counter()
        return Counter(int(line) for line in self.ids.read_text().split())


def _serve_sink(port: int, ids: Path) -> None:
    """The sink's process: accept every email on 127.0.0.1:`port`, append its id."""
    from aiosmtpd.controller import Controller

    header = b"\nX-Aftersale-Message:"

    class Handler:
        def __init__(self, out: Any) -> None:
            self.out = out

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content = envelope.original_content or envelope.content
            data = content if isinstance(content, bytes) else content.encode()
            start = data.find(header)
            if start >= 0:
                end = data.find(b"\n", start + len(header))
                self.out.write(data[start + len(header) : end].strip().decode() + "\n")
                self.out.flush()  # accepted only once written: a killed sink loses none
            return "250 Message accepted for delivery"

    with ids.open("a") as out, _stopped_by_sigterm():
        controller = Controller(Handler(out), hostname="127.0.0.1", port=port)
        controller.start()
        print("listening", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        _serve_sink(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
