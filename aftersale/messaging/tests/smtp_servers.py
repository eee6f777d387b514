"""Real SMTP servers (aiosmtpd on 127.0.0.1) that answer the way the tests need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

from aftersale.messaging.capture import LocalSmtpController


class RefusingHandler:
    """Answers RCPT with `reply` for the first `times` recipients, then accepts; records
    each accepted message with the peer (so: the connection) it came over."""

    def __init__(self, reply: str = "", times: int = 0) -> None:
        self.reply, self.remaining = reply, times
        self.received: list[tuple[Any, bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.remaining > 0:
            self.remaining -= 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((session.peer, envelope.content))
        return "250 OK"


@contextmanager
def serving(handler: object) -> Iterator[int]:
    """Run `handler` on a free port of 127.0.0.1 and yield the port."""
    controller = LocalSmtpController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


def smtp_connection(port: int) -> BaseEmailBackend:
    """A Django SMTP connection to 127.0.0.1:`port`."""
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host="127.0.0.1",
        port=port,
        timeout=5,
        use_tls=False,
        use_ssl=False,
        username="",
        password="",
    )
