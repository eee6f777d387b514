"""Sending real emails through a capture server and reading the links back out."""

from __future__ import annotations

import email
import html
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.models import Message
from aftersale.messaging.tests.smtp_servers import smtp_connection

PUBLIC = "https://track.example.com"


def send_all(*, clock: VirtualClock, outbox: Path) -> list[EmailMessage]:
    """Send every due message over SMTP to a capture server in `outbox` and return what
    arrived, parsed, in arrival order."""
    with CaptureServer(outbox) as server:
        send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
        paths = server.messages()
    parsed = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def send_one(message: Message, *, clock: VirtualClock, outbox: Path) -> EmailMessage:
    """Send `message` (the only due one) and return the email as it arrived; the message
    is refreshed from the database."""
    (received,) = send_all(clock=clock, outbox=outbox)
    message.refresh_from_db()
    return received


def html_part(received: EmailMessage) -> str:
    """The HTML body of `received`."""
    part = received.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def paths_of(received: EmailMessage, kind: str) -> list[str]:
    """Paths (without the public base) of links of `kind` ("c", "o", "u") in the HTML
    part, first appearance first."""
    found = re.findall(rf'(?:href|src)="{re.escape(PUBLIC)}(/{kind}/[^"]+)"', html_part(received))
    return list(dict.fromkeys(html.unescape(p) for p in found))
