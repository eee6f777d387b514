"""Production mode with real parts: Celery workers and beat as OS processes on a real
Redis and a real PostgreSQL database, sending to a real SMTP server on 127.0.0.1. A few
hundred journeys of three emails a day apart, the workers' clock moved a day at a time
(AFTERSALE_TEST_CLOCK_FILE, lib.clock.OffsetFileClock); every email arrives exactly once,
and after a SIGKILL of a worker mid-run (restarted at once) at most once more per kill
(the documented window: the relay accepted it, the worker died before recording that);
a restart of Redis mid-run (which keeps nothing: every task in it is lost) loses none.

Skipped, saying why, without PostgreSQL (the suite's PostgreSQL pass runs it) or without
redis-server on the PATH (scripts/redis installs it; the test starts its own to restart it).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.production.tests.journey_data import DAYS_BETWEEN, EMAILS_PER_JOURNEY
from aftersale.production.tests.real_parts import (
    Celery,
    RedisServer,
    commands,
    enroll_journeys,
    production_env,
)
from aftersale.worker.tests.crash_scenario import (
    ScenarioDatabase,
    child_env,
    free_port,
    lines_until,
    received_message_ids,
    rest_of_output,
    scenario_database,
)

JOURNEYS = 300
WAVE_SECONDS = 90  # one email per journey, through every kill and restart
DELIVERED = "SELECT count(*) FROM messaging_message WHERE status = 'delivered'"
ACTIVE = "SELECT count(*) FROM flows_enrollment WHERE state = 'active'"

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="production mode needs PostgreSQL: runs in the suite's PostgreSQL pass "
    "(AFTERSALE_DATABASE_URL=postgresql://..., as scripts/test does)",
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may restart; skipped without one."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on the PATH (scripts/redis installs it): this test "
                    "starts and restarts a Redis of its own")  # fmt: skip
    server = RedisServer(port=free_port(), directory=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_every_email_of_a_three_email_flow_arrives_once_through_celery_kills_and_restarts(
    tmp_path: Path, broker: RedisServer
) -> None:
    seed = int(os.environ.get("AFTERSALE_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    clock_file = tmp_path / "clock-offset-seconds"
    with (
        scenario_database(tmp_path / "home") as database,
        CaptureServer(tmp_path / "outbox") as smtp,
    ):
        enroll_journeys(database, count=JOURNEYS)
        env = production_env(
            database,
            broker_url=broker.url,
            clock_file=clock_file,
            smtp_port=smtp.port,
            AFTERSALE_SCHEDULER_LEASE_SECONDS="3",
            AFTERSALE_SCHEDULER_BATCH_SIZE="25",
        )
        (tmp_path / "logs").mkdir()
        celery = Celery(env=env, logs=tmp_path / "logs", commands=commands())
        started = time.monotonic()
        kills = 0
        try:
            celery.start("send", "default", "beat")
            # Each wave: the journeys' next email is due; processes are killed part-way:
            # the send worker; the tick's worker and Redis (restarted, every task in it
            # lost: it keeps nothing); the send worker and beat together.
            waves = (["send"], ["default", "redis"], ["send", "beat"])
            for wave, victims in enumerate(waves):
                offset = wave * (dt.timedelta(days=DAYS_BETWEEN) + dt.timedelta(minutes=10))
                clock_file.write_text(str(offset.total_seconds()))
                kills += _wave(
                    database=database,
                    celery=celery,
                    broker=broker,
                    victims=victims,
                    target=JOURNEYS * (wave + 1),
                    kill_after=JOURNEYS * wave + rng.randrange(JOURNEYS // 5, JOURNEYS // 2),
                )
        finally:
            celery.stop()
        elapsed = time.monotonic() - started
        active = database.scalar(ACTIVE)
        expected = {row[0] for row in database.rows("SELECT id FROM messaging_message")}
        statuses = dict(
            database.rows("SELECT status, count(*) FROM messaging_message GROUP BY status")
        )
        received = received_message_ids(smtp.directory)

    duplicates = sum(count - 1 for count in received.values())
    print(
        f"\nproduction mode (seed {seed}): {JOURNEYS} journeys x {EMAILS_PER_JOURNEY} emails, "
        f"{kills} SIGKILLs, a Redis restart, {sum(received.values())} received, "
        f"{duplicates} duplicates, {elapsed:.1f}s"
    )
    assert active == 0
    assert statuses == {"delivered": JOURNEYS * EMAILS_PER_JOURNEY}
    assert expected - set(received) == set(), "emails never received"
    assert set(received) - expected == set(), "emails nobody queued"
    assert duplicates <= kills, f"seed {seed}: {duplicates} duplicates after {kills} kills"


def _wave(
    *,
    database: ScenarioDatabase,
    celery: Celery,
    broker: RedisServer,
    victims: list[str],
    target: int,
    kill_after: int,
) -> int:
    """Poll until `target` emails are delivered, SIGKILLing each of `victims` (and
    restarting it; "redis": restarting the broker) once `kill_after` are; return the
    number of SIGKILLs."""
    deadline = time.monotonic() + WAVE_SECONDS
    kills = 0
    while (delivered := database.scalar(DELIVERED)) < target:
        celery.assert_running()
        if victims and delivered >= kill_after:
            for victim in victims:
                if victim == "redis":
                    broker.restart()
                else:
                    celery.kill(victim)
                    kills += 1
            victims = []
        if time.monotonic() > deadline:
            raise AssertionError(f"{delivered} of {target} emails delivered in {WAVE_SECONDS}s")
        time.sleep(0.05)  # polling interval of the database count
    return kills


def test_serve_in_production_mode_serves_without_an_embedded_worker(
    tmp_path: Path, redis_url: str
) -> None:
    with scenario_database(tmp_path / "home") as database:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "aftersale.cli", "serve", "--port", str(port)],
            env=child_env(database, AFTERSALE_BROKER_URL=redis_url, AFTERSALE_LOG_LEVEL="INFO"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert server.stdout is not None
            before = lines_until("serving on", server.stdout)
            server.send_signal(signal.SIGTERM)
            rest = rest_of_output(server)
        finally:
            if server.poll() is None:
                server.kill()
    output = "".join(before) + rest
    assert server.returncode == 0
    assert " started" not in output, output  # the Celery workers do the worker's work
