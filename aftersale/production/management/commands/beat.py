from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.production.mode import production_app


class Command(BaseCommand):
    help = (
        "Production mode: run Celery beat, which sends the scheduler's tick, the sends, "
        "timed triggers, the daily fit and clean-ups on their schedule. Run exactly ONE "
        "(docs/deployment.md): a second would only send every task twice."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: Any, **options: Any) -> None:
        production_app().start(["beat", f"--loglevel={options['loglevel']}"])
