"""Emails through a Django email backend: django-anymail's for an email service (ESP),
or any other backend (Django's own SMTP backend, say). Each email becomes a Django
EmailMultiAlternatives and goes over the backend's one reused connection."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, ClassVar

from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from aftersale.messaging import mime
from aftersale.messaging.delivery.transports.base import (
    Outcome,
    OutgoingEmail,
    Payloads,
    SendResult,
    Transport,
    describe,
)
from aftersale.messaging.delivery.transports.smtp import SmtpTransport
from aftersale.messaging.models import MessageStatus

# The metadata key an ESP's webhooks carry back (tracking.esp_events reads it).
METADATA_KEY = "aftersale_message"


class Unreachable(Exception):
    """The backend could not open its connection: the email was not attempted."""


@dataclass
class _Handed:
    email: EmailMultiAlternatives
    error: BaseException | None


class BackendTransport(Transport[EmailMultiAlternatives, _Handed]):
    """Through any Django email backend; smtplib's errors are classified by their SMTP
    reply code the way SmtpTransport classifies replies, except those by which the
    server refuses us whichever the email (our sender, EHLO, AUTH): those stop the batch
    UNAVAILABLE."""

    outcome_by_error: ClassVar[dict[type[BaseException], Outcome]] = {
        Unreachable: Outcome.UNAVAILABLE,
        smtplib.SMTPHeloError: Outcome.UNAVAILABLE,
        smtplib.SMTPAuthenticationError: Outcome.UNAVAILABLE,
        ValueError: Outcome.FAILED,  # an address or header mime refuses
    }

    def __init__(self, backend: BaseEmailBackend) -> None:
        self.backend = backend

    def build(self, email: OutgoingEmail) -> EmailMultiAlternatives:
        content = email.email
        message = EmailMultiAlternatives(
            subject=mime.clean(content.subject),
            body=content.text,
            from_email=mime.format_address(content.from_name, content.from_address),
            to=[mime.checked_address(content.to)],
            reply_to=[mime.checked_address(content.reply_to)] if content.reply_to else None,
            headers={
                "Message-ID": content.message_id,
                **{name: mime.clean(value) for name, value in content.headers},
            },
        )
        message.attach_alternative(content.html, "text/html")
        return message

    def post(
        self,
        payloads: Payloads[EmailMultiAlternatives],
        *,
        on_reply: Callable[[int, _Handed], None],
    ) -> None:
        for position, message in enumerate(payloads):
            handed = _Handed(message, self._hand_over(message))
            on_reply(position, handed)
            if handed.error and self.classify_error(handed.error).outcome is Outcome.UNAVAILABLE:
                break  # the rest would be refused the same way: they stay due

    def _hand_over(self, message: EmailMultiAlternatives) -> Exception | None:
        try:
            self.backend.open()  # a no-op while the connection is up
        except Exception as exc:
            return Unreachable(describe(exc))
        try:
            if self.backend.send_messages([message]) != 1:
                raise smtplib.SMTPException("the email backend accepted nothing")
        except Exception as exc:
            self.close()  # whatever broke, the next email starts on a fresh connection
            return exc
        return None

    def classify(self, raw: _Handed) -> SendResult:
        if raw.error is not None:
            return self.classify_error(raw.error)
        return SendResult(Outcome.ACCEPTED)

    def classify_error(self, exc: BaseException) -> SendResult:
        if isinstance(exc, smtplib.SMTPSenderRefused):
            sender = parseaddr(str(exc.sender))[1]  # the backend gives the From header's
            why = f"MAIL FROM:<{sender}> refused: {exc.smtp_code} {_smtp_text(exc)}"
            return SendResult(Outcome.UNAVAILABLE, detail=f"cannot use the mail server: {why}")
        code = _smtp_code(exc)
        if code is None or any(kind in self.outcome_by_error for kind in type(exc).__mro__):
            return super().classify_error(exc)
        outcome = SmtpTransport.outcome_by_code_class.get(code // 100, Outcome.DEFERRED)
        return SendResult(outcome, detail=f"{code} {_smtp_text(exc)}")

    def close(self) -> None:
        with suppress(Exception):  # closing a dead connection may fail in many ways
            self.backend.close()


def _smtp_code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return min(codes) if codes else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code
    return None


def _smtp_text(exc: BaseException) -> str:
    replies: list[Any] = (
        [reply for _, reply in exc.recipients.values()]
        if isinstance(exc, smtplib.SMTPRecipientsRefused)
        else [getattr(exc, "smtp_error", str(exc))]
    )
    return "; ".join(
        r.decode(errors="replace") if isinstance(r, bytes) else str(r) for r in replies
    )


class AnymailTransport(BackendTransport):
    """Through django-anymail to an email service. The service's message id is recorded
    (its webhooks refer to it) and the recipient status anymail normalizes decides the
    outcome; an accepted email is `sent`, and the service's webhooks report delivery."""

    accepted_status: ClassVar[MessageStatus] = MessageStatus.SENT
    # anymail's normalized send statuses (anymail.message.AnymailRecipientStatus).
    outcome_by_status: ClassVar[dict[str, Outcome]] = {
        "sent": Outcome.ACCEPTED,
        "queued": Outcome.ACCEPTED,
        "unknown": Outcome.ACCEPTED,  # the call succeeded; the service did not say more
        "rejected": Outcome.REJECTED,
        "invalid": Outcome.REJECTED,
        "failed": Outcome.FAILED,
    }
    # An API error (network, rate limit, the service down) is worth retrying and never
    # the address's fault; one refusing the account is a transport fault (classify_error);
    # an email the service cannot take at all fails.
    outcome_by_error: ClassVar[dict[type[BaseException], Outcome]] = {
        **BackendTransport.outcome_by_error,
        AnymailRecipientsRefused: Outcome.REJECTED,
        AnymailInvalidAddress: Outcome.FAILED,
        AnymailUnsupportedFeature: Outcome.FAILED,
        AnymailSerializationError: Outcome.FAILED,
        AnymailAPIError: Outcome.DEFERRED,
    }

    @classmethod
    def for_esp(cls, esp: str, **options: Any) -> AnymailTransport:
        """The transport for anymail's backend `esp` (e.g. "postmark") with `options`
        (its key and the like; what is not given, the backend reads from ANYMAIL)."""
        backend = get_connection(
            f"anymail.backends.{esp}.EmailBackend", ignore_recipient_status=True, **options
        )
        return cls(backend)

    # HTTP statuses by which email services refuse the account, not an email: a bad or
    # revoked key, a sender or domain it may not use (SendGrid's unverified sender
    # identity, Mailgun, Brevo, Resend, SparkPost and Postmark's bad token alike).
    account_statuses: ClassVar[frozenset[int]] = frozenset({401, 403})
    # Services that say so by an error code of their own in another status: Postmark's
    # (in a 422: 10 bad token, 400/401 sender signature missing or unconfirmed, 405 not
    # allowed to send, 412 account pending) and Amazon SES's (a boto error, whose access
    # refusals are 403s).
    account_error_codes: ClassVar[frozenset[str]] = frozenset(
        {
            "10",
            "400",
            "401",
            "405",
            "412",
            "AccountSendingPausedException",
            "SendingPausedException",
            "AccountSuspendedException",
            "MailFromDomainNotVerifiedException",
            "UnrecognizedClientException",
        }
    )

    def classify_error(self, exc: BaseException) -> SendResult:
        if isinstance(exc, AnymailAPIError) and self._refuses_the_account(exc):
            said = " ".join(str(exc).split())  # anymail's description spans lines
            return SendResult(Outcome.UNAVAILABLE, detail=f"the email service refused us: {said}")
        return super().classify_error(exc)

    def _refuses_the_account(self, exc: AnymailAPIError) -> bool:
        status, code, text = _api_error_facts(exc)
        # SES answers an unverified sender (or, in its sandbox, recipient) this way.
        unverified = code == "MessageRejected" and "not verified" in text
        return status in self.account_statuses or code in self.account_error_codes or unverified

    def build(self, email: OutgoingEmail) -> EmailMultiAlternatives:
        message = super().build(email)
        message.metadata = {METADATA_KEY: str(email.message_pk)}  # type: ignore[attr-defined]
        return message

    def classify(self, raw: _Handed) -> SendResult:
        if raw.error is not None:
            return self.classify_error(raw.error)
        status = getattr(raw.email, "anymail_status", None)
        recipient = status.recipients.get(raw.email.to[0]) if status else None
        if recipient is None or recipient.status is None:
            return SendResult(Outcome.ACCEPTED, provider_id=_id(status and status.message_id))
        outcome = self.outcome_by_status.get(recipient.status, Outcome.DEFERRED)
        detail = "" if outcome is Outcome.ACCEPTED else f"the email service said {recipient.status}"
        return SendResult(outcome, detail=detail, provider_id=_id(recipient.message_id))


def _api_error_facts(exc: AnymailAPIError) -> tuple[int | None, str, str]:
    """The HTTP status, the service's own error code ("" if none) and its message, from
    a requests response with a JSON body (most services) or boto's parsed error (SES)."""
    response = exc.response
    if isinstance(response, dict):  # botocore's ClientError.response
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status, str(error.get("Code", "")), str(error.get("Message", ""))
    try:
        body = response.json() if response is not None else {}
    except ValueError:  # not JSON
        body = {}
    if not isinstance(body, dict):
        body = {}
    return exc.status_code, str(body.get("ErrorCode", "")), str(body.get("Message", ""))


def _id(value: object) -> str:
    return "" if value is None else str(value)
