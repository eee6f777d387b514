"""Installing the default templates and sending the outbox."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import smtplib
import socket
from contextlib import suppress
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any, Literal
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection, make_msgid
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import F

from aftersale.messaging.context import is_marketing
from aftersale.messaging.links import unsubscribe_token, unsubscribe_url
from aftersale.messaging.models import EmailTemplate, Message, MessageStatus
from aftersale.messaging.rendering import RenderedEmail, TemplateError, render_message
from aftersale.messaging.selectors import RENDER_RELATIONS, due_messages
from aftersale.messaging.template_library import library_templates
from aftersale.stores.models import Store
from aftersale.tracking.models import SuppressionReason
from aftersale.tracking.selectors import suppression_reason
from aftersale.tracking.services import record_bounce

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE = dt.timedelta(minutes=5)
# When another worker takes some of our candidates, look for more this many times.
_CLAIM_ROUNDS = 3

Outcome = Literal["delivered", "bounced", "deferred", "failed", "skipped"]


# --- the template library -----------------------------------------------------------


def install_default_templates(*, store: Store, now: dt.datetime) -> list[EmailTemplate]:
    """Give `store` every template of the shipped library it does not have yet and return
    the store's library templates in library order. Templates whose slug the store
    already has are left untouched, so running it again changes nothing."""
    existing = {t.slug: t for t in EmailTemplate.objects.filter(store=store)}
    installed = []
    for entry in library_templates():
        template = existing.get(entry.slug) or EmailTemplate.objects.create(
            store=store, updated_at=now, **entry.fields()
        )
        installed.append(template)
    return installed


# --- claiming -------------------------------------------------------------------------


def default_worker_id() -> str:
    """This process's name in claims: host and pid."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}"


def claim_due_messages(
    *,
    now: dt.datetime,
    limit: int = 500,
    store: Store | None = None,
    worker_id: str | None = None,
    lease: dt.timedelta | None = None,
) -> list[Message]:
    """Claim up to `limit` due queued messages for this caller until now + `lease` and
    return them with their relations loaded. The claim is made under a claim token unique
    to this call, so two workers claiming at the same moment never get the same message:
    PostgreSQL picks the rows with FOR UPDATE SKIP LOCKED, other databases (SQLite) with
    a conditional UPDATE that only touches messages still unclaimed."""
    lease = lease or dt.timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)
    claim = f"{(worker_id or default_worker_id())[:48]}:{secrets.token_hex(6)}"
    if connection.features.has_select_for_update_skip_locked:
        candidates = _claim_skipping_locked(now=now, limit=limit, store=store, claim=(claim, lease))
    else:
        candidates = _claim_if_still_free(now=now, limit=limit, store=store, claim=(claim, lease))
    claimed = Message.objects.filter(id__in=candidates, claimed_by=claim, claimed_until=now + lease)
    return list(claimed.select_related(*RENDER_RELATIONS).order_by("send_after", "id"))


def _claim_skipping_locked(
    *, now: dt.datetime, limit: int, store: Store | None, claim: tuple[str, dt.timedelta]
) -> list[int]:
    token, lease = claim
    # Row locks last only for this short transaction; the claim written in it is what
    # keeps other workers away afterwards (and expires if we die).
    with transaction.atomic():
        due = due_messages(now=now, store=store).select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        Message.objects.filter(id__in=ids).update(claimed_until=now + lease, claimed_by=token)
    return ids


def _claim_if_still_free(
    *, now: dt.datetime, limit: int, store: Store | None, claim: tuple[str, dt.timedelta]
) -> list[int]:
    token, lease = claim
    won, candidates = 0, []
    for _ in range(_CLAIM_ROUNDS):
        ids = list(due_messages(now=now, store=store).values_list("id", flat=True)[: limit - won])
        if not ids:
            break
        candidates += ids
        # The due filter again in the UPDATE skips rows another worker claimed meanwhile.
        taken = (
            due_messages(now=now, store=store)
            .filter(id__in=ids)
            .update(claimed_until=now + lease, claimed_by=token)
        )
        won += taken
        if taken == len(ids) or won >= limit:
            break  # no other worker got in between: nothing left to catch up on
    return candidates


# --- sending ------------------------------------------------------------------------


@dataclass
class SendSummary:
    """What one pass of the sender did."""

    delivered: int = 0
    bounced: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one message's outcome."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def total(self) -> int:
        """How many messages the pass handled."""
        return self.delivered + self.bounced + self.deferred + self.failed + self.skipped


class _ConnectFailed(Exception):
    """The mail server could not be reached at all: the rest of the batch waits."""


class _Transport:
    """One connection reused for a whole batch, reopened after it drops."""

    def __init__(self, connection: BaseEmailBackend) -> None:
        self.connection = connection

    def send(self, email: EmailMultiAlternatives) -> None:
        try:
            self.connection.open()  # a no-op while the connection is up
        except Exception as exc:
            self.reset()
            raise _ConnectFailed(f"cannot connect to the mail server: {exc!r}") from exc
        if self.connection.send_messages([email]) != 1:
            raise smtplib.SMTPException("the email backend accepted nothing")

    def reset(self) -> None:
        with suppress(Exception):  # closing a dead connection may fail in many ways
            self.connection.close()


def send_queued_messages(
    *,
    now: dt.datetime,
    limit: int = 500,
    store: Store | None = None,
    connection: BaseEmailBackend | None = None,
    worker_id: str | None = None,
) -> SendSummary:
    """Claim the due queued messages (up to `limit`, all stores unless `store`), then
    render and send each over one reused connection (Django's configured backend unless
    `connection` is given). Every message ends the pass delivered, bounced (SMTP 5xx),
    deferred for a later retry (4xx or a dropped connection; failed after
    MAX_ATTEMPTS), failed (its template cannot render) or skipped (no marketing consent);
    no message is lost, and each status change applies only while we hold its claim."""
    messages = claim_due_messages(now=now, limit=limit, store=store, worker_id=worker_id)
    summary = SendSummary()
    if not messages:
        return summary
    transport = _Transport(connection or get_connection())
    try:
        for index, message in enumerate(messages):
            try:
                summary.add(_process(message, transport=transport, now=now))
            except _ConnectFailed as exc:
                summary.add(_defer(message, now=now, error=str(exc)))
                summary.deferred += _release(messages[index + 1 :])
                break
    finally:
        if connection is None:
            transport.reset()
    return summary


def _process(message: Message, *, transport: _Transport, now: dt.datetime) -> Outcome:
    reason = _skip_reason(message)
    if reason:
        return _finish(message, status=MessageStatus.SKIPPED, error=reason)
    try:
        rendered = render_message(message=message, now=now)
    except TemplateError as exc:
        return _finish(message, status=MessageStatus.FAILED, error=str(exc))
    except Exception as exc:  # a bug must not take the rest of the batch down with it
        logger.exception("rendering message %s failed", message.pk)
        return _finish(message, status=MessageStatus.FAILED, error=f"internal error: {exc!r}")
    email = build_email(message=message, rendered=rendered)
    return _deliver(message, email=email, rendered=rendered, transport=transport, now=now)


def _skip_reason(message: Message) -> str:
    customer = message.customer
    suppressed = suppression_reason(store=message.store_id, email=message.to_email)
    if suppressed == SuppressionReason.HARD_BOUNCE:
        return "address suppressed: hard_bounce"  # dead: not even transactional email
    if not is_marketing(message):
        return ""  # transactional email goes out whatever the marketing consent
    if suppressed:
        return f"address suppressed: {suppressed}"
    if customer.unsubscribed_at is not None:
        return f"customer unsubscribed at {customer.unsubscribed_at.isoformat()}"
    if not customer.accepts_marketing:
        return "customer does not accept marketing"
    return ""


def build_email(*, message: Message, rendered: RenderedEmail) -> EmailMultiAlternatives:
    """The MIME email for `message`: text body plus HTML alternative, From the store,
    Reply-To, a fresh Message-ID and, for marketing, RFC 8058 one-click unsubscribe
    headers."""
    store = message.store
    headers = {
        "Message-ID": make_msgid(domain=store.from_email.rpartition("@")[2] or "localhost"),
        "X-Aftersale-Message": str(message.pk),
    }
    if is_marketing(message):
        headers.update(_unsubscribe_headers(message))
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=formataddr((store.name, store.from_email)),
        to=[message.to_email],
        reply_to=[store.reply_to] if store.reply_to else None,
        headers=headers,
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


def _unsubscribe_headers(message: Message) -> dict[str, str]:
    mailbox = message.store.reply_to or message.store.from_email
    mailto = f"mailto:{mailbox}?subject={quote('unsubscribe ' + unsubscribe_token(message.pk))}"
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(message.pk)}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _deliver(
    message: Message,
    *,
    email: EmailMultiAlternatives,
    rendered: RenderedEmail,
    transport: _Transport,
    now: dt.datetime,
) -> Outcome:
    sent = {
        "subject": rendered.subject[:300],
        "message_id": email.extra_headers["Message-ID"],
        "tracked_urls": list(rendered.links),
    }
    try:
        transport.send(email)
    except _ConnectFailed:
        raise
    except Exception as exc:
        kind, dropped = classify_send_error(exc)
        if dropped:
            transport.reset()  # the next message reconnects
        if kind == "bounce":
            record_bounce(message=message, now=now)
            return _finish(
                message, status=MessageStatus.BOUNCED, error=_describe(exc), bounced_at=now, **sent
            )
        return _defer(message, now=now, error=_describe(exc))
    return _finish(
        message, status=MessageStatus.DELIVERED, error="", sent_at=now, delivered_at=now, **sent
    )


def classify_send_error(exc: BaseException) -> tuple[Literal["bounce", "retry"], bool]:
    """Whether a failed send is a permanent bounce (SMTP 5xx) or worth retrying (4xx,
    network trouble, anything unknown), and whether the connection is gone."""
    # 421 means the server is closing the connection on us (smtplib closes its side too).
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return ("bounce" if codes and min(codes) >= 500 else "retry"), 421 in codes
    if isinstance(exc, smtplib.SMTPResponseException):
        return ("bounce" if exc.smtp_code >= 500 else "retry"), exc.smtp_code == 421
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError):
        return "retry", True
    return "retry", isinstance(exc, OSError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _owned(message: Message) -> Any:
    """The message's row, but only while it is still queued and claimed by us."""
    return Message.objects.filter(
        id=message.pk, status=MessageStatus.QUEUED, claimed_by=message.claimed_by
    )


def _finish(message: Message, *, status: MessageStatus, error: str, **fields: Any) -> Outcome:
    _owned(message).update(status=status, error=error, claimed_until=None, **fields)
    return status.value  # type: ignore[return-value]


def _defer(message: Message, *, now: dt.datetime, error: str) -> Outcome:
    attempts = message.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        return _finish(
            message,
            status=MessageStatus.FAILED,
            attempts=attempts,
            error=f"gave up after {attempts} attempts: {error}",
        )
    _owned(message).update(
        attempts=F("attempts") + 1,
        send_after=now + RETRY_BASE * 2**message.attempts,
        error=error,
        claimed_until=None,
    )
    return "deferred"


def _release(messages: list[Message]) -> int:
    """Give back claims we will not use this pass; the messages stay due."""
    for message in messages:
        _owned(message).update(claimed_until=None)
    return len(messages)
