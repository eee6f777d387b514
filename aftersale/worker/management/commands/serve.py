import signal
import threading
from types import FrameType
from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.core.wsgi import get_wsgi_application
from waitress.server import create_server

from aftersale.worker.loop import run_worker
from aftersale.worker.management.commands.worker import add_worker_arguments, worker_settings


class Command(BaseCommand):
    help = (
        "Serve the web app (waitress) and run the scheduler in a background thread of the "
        "same process: the embedded default. SIGTERM or Ctrl-C stops both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=4, help="web request threads")
        parser.add_argument(
            "--no-worker", action="store_true", help="web only (run workers elsewhere)"
        )
        add_worker_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        server = create_server(
            get_wsgi_application(),
            host=options["host"],
            port=options["port"],
            threads=options["threads"],
        )
        stop = threading.Event()
        worker = threading.Thread(
            target=run_worker,
            kwargs={"config": worker_settings(options), "stop": stop},
            name="aftersale-worker",
        )
        # Production mode (AFTERSALE_BROKER_URL): Celery workers do this work elsewhere.
        if not options["no_worker"] and not settings.BROKER_URL:
            worker.start()
        signal.signal(signal.SIGTERM, _exit)
        self.stdout.write(f"serving on http://{options['host']}:{server.effective_port}")
        try:
            server.run()  # returns once SIGTERM or Ctrl-C interrupts it
        finally:
            server.close()
            stop.set()
            if worker.is_alive():
                worker.join()
        self.stdout.write("stopped")


def _exit(signum: int, frame: FrameType | None) -> NoReturn:
    # waitress's loop ends cleanly on SystemExit raised in the main thread.
    raise SystemExit(0)
