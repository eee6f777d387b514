import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.tracking.replies import reply_server


class Command(BaseCommand):
    help = (
        "Receive replies over SMTP for the stores' reply domains (point their MX here): each "
        "is matched to the email it answers and forwarded to the merchant. Runs until "
        "SIGTERM or Ctrl-C."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2526, help="port (0: any free port)")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        server = reply_server(host=options["host"], port=options["port"])
        server.start()
        self.stdout.write(f"receiving replies on {options['host']}:{server.port}")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()
