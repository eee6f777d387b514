import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aftersale.clock import now
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.messaging.services import send_queued_messages


class Command(BaseCommand):
    help = "Run the scheduler: advance due enrollments and send queued emails, forever."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=2.0,
            help="pause between passes that found no work",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            steps = run_due_enrollments(now=now())
            sends = send_queued_messages(now=now())
            busy = steps.claimed or sends.total
            if options["once"]:
                self.stdout.write(f"advanced {steps.claimed} enrollments, sent {sends.delivered}")
                return
            if not busy:
                time.sleep(options["idle_seconds"])
