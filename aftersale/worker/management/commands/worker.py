import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.lib.clock import install_test_clock
from aftersale.messaging.outbox.services import default_worker_id
from aftersale.worker.loop import WorkerSettings, run_worker

# -v 0: warnings only; -v 1 (default): start, stop and every busy pass; -v 2+: debug.
LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO}


def add_worker_arguments(parser: CommandParser) -> None:
    """The options `worker` and `serve` share."""
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="pause after a pass that found no work"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=settings.SCHEDULER_BATCH_SIZE,
        help="enrollments and emails claimed per pass (default AFTERSALE_SCHEDULER_BATCH_SIZE)",
    )
    parser.add_argument("--worker-id", default="", help="name in leases (default: hostname:pid)")


def worker_settings(options: dict[str, Any]) -> WorkerSettings:
    """The worker settings the shared options ask for; sets the worker log level too,
    and the clock AFTERSALE_TEST_CLOCK_FILE names, if set (the benchmarks' and the
    production tests' clock, as Celery's processes take it)."""
    install_test_clock()
    level = LOG_LEVELS.get(options["verbosity"], logging.DEBUG)
    logging.getLogger("aftersale.worker.loop").setLevel(level)
    return WorkerSettings(
        worker_id=options["worker_id"] or default_worker_id(),
        batch_size=options["batch_size"],
        idle_seconds=options["idle_seconds"],
    )


class Command(BaseCommand):
    help = (
        "Run the scheduler: advance due enrollments and send queued emails until SIGTERM or "
        "Ctrl-C (the pass under way is finished first). Run as many as you like."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        add_worker_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        config = worker_settings(options)
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        totals = run_worker(config=config, stop=stop, once=options["once"])
        self.stdout.write(
            f"worker {config.worker_id}: {totals.passes} passes, advanced {totals.advanced} "
            f"enrollments, sent {totals.delivered}"
        )
