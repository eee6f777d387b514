"""The transport the settings choose (AFTERSALE_EMAIL_TRANSPORT), and a store's own
(its SMTP relay or email service, set on the dashboard's Settings page)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from aftersale.messaging.delivery.transports.base import Transport
from aftersale.messaging.delivery.transports.config import credential_option
from aftersale.messaging.delivery.transports.smtp import Security, SmtpTransport
from aftersale.stores.models import EmailTransport, Store
from aftersale.stores.selectors import transport_settings


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


def has_own_transport(store: Store) -> bool:
    """Whether `store` sends through a transport of its own, not the configured one."""
    return store.email_transport != EmailTransport.ENVIRONMENT


def transport_for_store(store: Store, *, timeout: float | None = None) -> Transport[Any, Any]:
    """A new transport for `store`'s email: its own SMTP relay or email service where
    its settings name one, else the configured transport; `timeout` (seconds) for its
    own relay's connection instead of EMAIL_TIMEOUT. Raises
    stores.credentials.UnreadableCredential when its stored secret cannot be read."""
    config = transport_settings(store=store)
    if config.kind == EmailTransport.SMTP:
        security: Security = (
            "tls"
            if config.security == "tls"
            else "none"
            if config.security == "none"
            else "starttls"
        )
        return SmtpTransport(
            host=config.host,
            port=config.port,
            security=security,
            username=config.username,
            password=config.password,
            timeout=timeout or settings.EMAIL_TIMEOUT or 30,
        )
    if config.kind == EmailTransport.ESP:
        from aftersale.messaging.delivery.transports.esp import AnymailTransport

        return AnymailTransport.for_esp(
            config.esp, **{credential_option(config.esp): config.api_key}
        )
    return configured_transport()


def describe_transport(store: Store) -> str:
    """Where `store`'s email goes, in words for the merchant (no secret): its own relay
    or service, or the installation's, as configured."""
    if store.email_transport == EmailTransport.SMTP:
        return f"the store's SMTP relay {store.smtp_host}:{store.smtp_port}"
    if store.email_transport == EmailTransport.ESP:
        return f"the store's email service {store.esp_name}"
    choice: str = settings.EMAIL_TRANSPORT
    if choice == "smtp":
        return (
            f"the installation's SMTP relay {settings.EMAIL_HOST}:{settings.EMAIL_PORT} "
            "(AFTERSALE_SMTP_*)"
        )
    return f"the installation's email service {choice.removeprefix('anymail:')}"
