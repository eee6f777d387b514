"""Workers killed with SIGKILL at random moments lose no email and repeat one only in
the documented window (SMTP accepted it, the worker died before recording that).

Real parts throughout: `aftersale worker` OS processes, a real SMTP server on 127.0.0.1,
a real SQLite file or PostgreSQL database (whichever the suite runs on). See
docs/scheduler.md for the window and the measured duplicate rate.
"""

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.worker.tests.crash_data import EMAIL_STEPS
from aftersale.worker.tests.crash_scenario import (
    WorkerPool,
    child_env,
    free_port,
    lines_until,
    populate,
    received_message_ids,
    rest_of_output,
    run_with_kills,
    scenario_database,
)

WORKERS = 3
# Short leases so work a killed worker held is picked up again within seconds; small
# batches so a live worker always finishes its batch well inside its lease.
LEASE_SECONDS = "10"
BATCH_SIZE = "50"


@pytest.mark.parametrize(
    ("enrollments", "kills", "minutes"),
    [pytest.param(300, 3, 3, id="quick"), pytest.param(10_000, 10, 8, id="10k")],
)
def test_killed_workers_deliver_every_email_and_repeat_one_only_in_the_smtp_window(
    tmp_path: Path, enrollments: int, kills: int, minutes: int, record_property
) -> None:
    seed = int(os.environ.get("AFTERSALE_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    with (
        scenario_database(tmp_path / "home") as database,
        CaptureServer(tmp_path / "outbox") as smtp,
    ):
        assert populate(database, count=enrollments) == enrollments
        env = child_env(
            database,
            AFTERSALE_SMTP_HOST="127.0.0.1",
            AFTERSALE_SMTP_PORT=str(smtp.port),
            AFTERSALE_SCHEDULER_LEASE_SECONDS=LEASE_SECONDS,
            AFTERSALE_SCHEDULER_BATCH_SIZE=BATCH_SIZE,
        )
        pool = WorkerPool(env=env, logs=tmp_path / "logs", size=WORKERS)
        total_work = enrollments * (1 + EMAIL_STEPS)
        kill_at = [rng.randrange(1, int(total_work * 0.95)) for _ in range(kills)]
        started = time.monotonic()
        pool.start()
        try:
            killed = run_with_kills(
                database=database,
                pool=pool,
                kill_at=kill_at,
                deadline=started + minutes * 60,
                rng=rng,
            )
            exit_codes = pool.stop()
        finally:
            pool.kill_all()
        elapsed = time.monotonic() - started
        expected = {row[0] for row in database.rows("SELECT id FROM messaging_message")}
        statuses = dict(
            database.rows("SELECT status, count(*) FROM messaging_message GROUP BY status")
        )
        received = received_message_ids(smtp.directory)

    duplicates = sum(count - 1 for count in received.values())
    print(
        f"\ncrash test (seed {seed}): {enrollments} enrollments, {killed} SIGKILLs, "
        f"{sum(received.values())} emails received, {duplicates} duplicates, {elapsed:.1f}s"
    )
    record_property("duplicates", duplicates)
    record_property("kills", killed)
    assert exit_codes == [0] * WORKERS  # SIGTERM lets a worker finish its pass and exit
    assert killed == kills
    assert len(expected) == enrollments * EMAIL_STEPS
    assert statuses == {"delivered": enrollments * EMAIL_STEPS}
    assert expected - set(received) == set(), "emails never received"
    assert set(received) - expected == set(), "emails nobody queued"
    assert duplicates <= killed, f"seed {seed}: {duplicates} duplicates after {killed} kills"


def test_serve_answers_http_and_stops_with_its_worker_on_sigterm(tmp_path: Path) -> None:
    with scenario_database(tmp_path / "home") as database:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "aftersale.cli", "serve", "--port", str(port)],
            env=child_env(database),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert server.stdout is not None
            before = lines_until("serving on", server.stdout)
            assert before[-1] == f"serving on http://127.0.0.1:{port}\n"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json") as reply:
                assert reply.status == 200
            server.send_signal(signal.SIGTERM)
            rest = rest_of_output(server)
            output = "".join(before) + rest
        finally:
            if server.poll() is None:
                server.kill()
        assert server.returncode == 0
        assert " started" in output and " stopped after " in output  # the embedded worker
        assert output.rstrip().endswith("stopped")


def test_worker_once_runs_a_single_pass_and_exits(tmp_path: Path) -> None:
    with scenario_database(tmp_path / "home") as database:
        done = subprocess.run(
            [sys.executable, "-m", "aftersale.cli", "worker", "--once"],
            env=child_env(database),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert "1 passes, advanced 0 enrollments, sent 0" in done.stdout
