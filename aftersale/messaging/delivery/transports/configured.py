"""The transport the settings choose (AFTERSALE_EMAIL_TRANSPORT)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from aftersale.messaging.delivery.transports.base import Transport
from aftersale.messaging.delivery.transports.smtp import SmtpTransport


def configured_transport() -> Transport[Any, Any]:
    """A new transport of the configured kind: SmtpTransport for "smtp" (the relay of
    the EMAIL_* settings), else AnymailTransport for the ESP in "anymail:<esp>"."""
    choice: str = settings.EMAIL_TRANSPORT
    if choice == "smtp":
        return SmtpTransport.from_settings()
    # Imported here: anymail's exceptions bring in requests (~0.1 s at every worker
    # start) that an SMTP installation never uses.
    from aftersale.messaging.delivery.transports.esp import AnymailTransport

    esp = choice.removeprefix("anymail:")
    return AnymailTransport.for_esp(esp, **settings.EMAIL_ESP_OPTIONS)
