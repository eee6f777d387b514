"""Production mode riding out the faults of its parts, with real parts: Celery workers and
beat as OS processes, a Redis, a PostgreSQL server and an SMTP server of the test's own,
each taken away once while a three-email flow runs (one fault per email of the journey):

1. Redis stopped for OUTAGE_SECONDS while the workers are busy (it comes back empty);
2. PostgreSQL stopped as a crash does and started again on the same data directory
   while the emails are being sent (the workers keep their connections, as
   AFTERSALE_DB_CONN_MAX_AGE makes them do in production);
3. the SMTP server refusing connections for over a minute of the workers' clock (moved
   by the clock file, AFTERSALE_TEST_CLOCK_FILE: the send pauses 30 s, then 60 s) and
   then back.

Every email arrives; none twice, except at most one for the PostgreSQL restart (the
documented window of docs/scheduler.md: the relay accepted the email and its record
failed, as when a worker is killed); no worker exits. Skipped, saying why, outside the
suite's PostgreSQL pass or without redis-server.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.production.tests.journey_data import DAYS_BETWEEN, EMAILS_PER_JOURNEY
from aftersale.production.tests.real_parts import (
    Celery,
    PostgresServer,
    RedisServer,
    commands,
    deliver,
    enroll_journeys,
    production_env,
    wait_for,
)
from aftersale.worker.tests.crash_scenario import (
    free_port,
    fresh_postgres_database,
    migrated,
    received_message_ids,
)

JOURNEYS = 150
OUTAGE_SECONDS = float(os.environ.get("AFTERSALE_TEST_REDIS_OUTAGE_SECONDS") or 12)
POSTGRES_OUTAGE_SECONDS = 3.0
WAVE_SECONDS = 120.0
DELIVERED = "SELECT count(*) FROM messaging_message WHERE status = 'delivered'"

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="production mode needs PostgreSQL: runs in the suite's PostgreSQL pass "
    "(AFTERSALE_DATABASE_URL=postgresql://..., as scripts/test does)",
)


def test_a_run_rides_out_a_redis_outage_a_postgres_restart_and_a_refusing_relay(
    tmp_path: Path,
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on the PATH (scripts/redis installs it)")
    clock = _Clock(tmp_path / "clock-offset-seconds")
    postgres = PostgresServer()
    redis = RedisServer(port=free_port(), directory=tmp_path / "redis")
    smtp_port = free_port()
    smtp = CaptureServer(tmp_path / "outbox", port=smtp_port).start()
    postgres.start()
    redis.start()
    try:
        with fresh_postgres_database(postgres.settings) as url:
            database = migrated(tmp_path / "home", url)
            enroll_journeys(database, count=JOURNEYS)
            env = production_env(
                database,
                broker_url=redis.url,
                clock_file=clock.path,
                smtp_port=smtp_port,
                AFTERSALE_SCHEDULER_LEASE_SECONDS="3",
                AFTERSALE_SCHEDULER_BATCH_SIZE="10",
                AFTERSALE_DB_CONN_MAX_AGE="600",
            )
            (tmp_path / "logs").mkdir()
            celery = Celery(env=env, logs=tmp_path / "logs", commands=commands())

            def delivered() -> int:
                return database.scalar(DELIVERED)

            try:
                celery.start("send", "default", "beat")
                # 1. Redis away while the first emails go out.
                deliver(
                    count=delivered,
                    target=JOURNEYS,
                    seconds=WAVE_SECONDS + OUTAGE_SECONDS,
                    celery=celery,
                    during=_Once(
                        JOURNEYS // 4, lambda: redis.restart(outage_seconds=OUTAGE_SECONDS)
                    ),
                )
                first = received_message_ids(tmp_path / "outbox")
                assert len(first) == JOURNEYS and set(first.values()) == {1}, "lost or twice"
                # 2. PostgreSQL restarted while the second emails go out.
                clock.move_to(_wave(1))
                deliver(
                    count=delivered,
                    target=2 * JOURNEYS,
                    seconds=WAVE_SECONDS,
                    celery=celery,
                    during=_Once(
                        JOURNEYS + JOURNEYS // 4,
                        lambda: postgres.restart(outage_seconds=POSTGRES_OUTAGE_SECONDS),
                    ),
                    errors=(psycopg.OperationalError,),
                )
                # 3. The relay refuses connections before the third emails are due, and
                # for over a minute of the workers' clock: the send pauses 30 s after the
                # first refusal, 60 s after the second; then the relay is back.
                smtp.stop()
                clock.move_to(_wave(2))
                _wait_for_log(celery, "transport fault 1 in a row")
                clock.move_to(_wave(2) + dt.timedelta(seconds=31))
                _wait_for_log(celery, "transport fault 2 in a row")
                assert delivered() == 2 * JOURNEYS  # nothing sent, nothing failed meanwhile
                smtp = CaptureServer(tmp_path / "outbox", port=smtp_port).start()
                clock.move_to(_wave(2) + dt.timedelta(seconds=31 + 61))
                deliver(count=delivered, target=3 * JOURNEYS, seconds=WAVE_SECONDS, celery=celery)
                _wait_for_log(celery, "sending resumed after 2 transport faults")
                celery.assert_running()  # no worker exited, though none was killed
            finally:
                celery.stop()
            expected = {row[0] for row in database.rows("SELECT id FROM messaging_message")}
            statuses = dict(
                database.rows("SELECT status, count(*) FROM messaging_message GROUP BY status")
            )
    finally:
        smtp.stop()
        redis.stop()
        postgres.remove()
    received = received_message_ids(tmp_path / "outbox")
    duplicates = sum(count - 1 for count in received.values())
    print(
        f"\nfaults: {JOURNEYS} journeys x {EMAILS_PER_JOURNEY} emails through a "
        f"{OUTAGE_SECONDS:.0f} s Redis outage, a PostgreSQL restart and a refusing relay: "
        f"{sum(received.values())} received, {duplicates} duplicates"
    )
    assert statuses == {"delivered": JOURNEYS * EMAILS_PER_JOURNEY}
    assert expected - set(received) == set(), "emails never received"
    assert set(received) - expected == set(), "emails nobody queued"
    assert duplicates <= 1, f"{duplicates} emails received twice"


class _Clock:
    """The workers' clock: wall-clock time plus the offset written in `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def move_to(self, offset: dt.timedelta) -> None:
        self.path.write_text(str(offset.total_seconds()))


def _wave(number: int) -> dt.timedelta:
    """The clock's offset at which email `number` (from 0) of every journey is due."""
    return number * (dt.timedelta(days=DAYS_BETWEEN) + dt.timedelta(minutes=10))


def _wait_for_log(celery: Celery, text: str, seconds: float = 60) -> None:
    """Wait until a process's log says `text`."""

    def said() -> bool:
        return any(text in path.read_text() for path in celery.logs.glob("*.log"))

    wait_for(said, what=f"a log line saying {text!r}", seconds=seconds, interval=0.1)


class _Once:
    """`during` for real_parts.deliver: `fault()` once the count reaches `after`."""

    def __init__(self, after: int, fault: Callable[[], object]) -> None:
        self.after, self.fault, self.done = after, fault, False

    def __call__(self, count: int) -> None:
        if not self.done and count >= self.after:
            self.done = True
            self.fault()
