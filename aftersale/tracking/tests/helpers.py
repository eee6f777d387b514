"""Sending real emails through a capture server and reading the links back out."""

from __future__ import annotations

import email
import functools
import html
import re
import types
from email import policy
from email.message import EmailMessage
from pathlib import Path

from django.test import override_settings

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.models import Message
from aftersale.messaging.tests.smtp_servers import smtp_connection
from aftersale.tracking.webhooks import esp_webhook_urls

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


def with_esp(esp: str) -> override_settings:
    """Settings with the transport "anymail:<esp>" and a URL configuration of only that
    ESP's webhooks, as aftersale/urls.py mounts them when it is configured."""
    return override_settings(EMAIL_TRANSPORT=f"anymail:{esp}", ROOT_URLCONF=_esp_urlconf(esp))


@functools.cache
def _esp_urlconf(esp: str) -> types.ModuleType:
    urlconf = types.ModuleType(f"esp_urls_{esp}")
    urlconf.urlpatterns = esp_webhook_urls(f"anymail:{esp}")  # type: ignore[attr-defined]
    return urlconf
