from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.production.mode import production_app


class Command(BaseCommand):
    help = (
        "Production mode: run a Celery worker on AFTERSALE_BROKER_URL consuming QUEUES "
        "(send, ingest, fit, default; all by default). Run as many as you like, on as "
        "many machines; SIGTERM finishes the task under way (docs/deployment.md)."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", default="default,send,ingest,fit")
        parser.add_argument("--concurrency", type=int, default=1, help="processes (prefork)")
        parser.add_argument(
            "--pool", default="prefork", choices=["prefork", "solo", "threads"], help="pool"
        )
        parser.add_argument("--hostname", default="", help="Celery node name")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: Any, **options: Any) -> None:
        app = production_app()
        argv = [
            "worker",
            f"--queues={options['queues']}",
            f"--concurrency={options['concurrency']}",
            f"--pool={options['pool']}",
            f"--loglevel={options['loglevel']}",
        ]
        if options["hostname"]:
            argv.append(f"--hostname={options['hostname']}")
        app.worker_main(argv)
