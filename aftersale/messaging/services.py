"""Installing the default templates, queuing emails, sending the outbox and recording
what became of each email: the only writer of Message rows and of the suppression list."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Field

from aftersale.coupons.models import Coupon
from aftersale.customers.models import Customer
from aftersale.lib.claims import claim_rows
from aftersale.messaging.context import EmailFacts, facts_for_messages, is_marketing
from aftersale.messaging.links import reply_address, unsubscribe_token, unsubscribe_url
from aftersale.messaging.mime import Email, random_hex
from aftersale.messaging.models import (
    EmailTemplate,
    Message,
    MessageStatus,
    Suppression,
    SuppressionReason,
)
from aftersale.messaging.previews import preview_template
from aftersale.messaging.rendering import RenderedEmail, TemplateError, render_message
from aftersale.messaging.selectors import due_messages, for_rendering
from aftersale.messaging.signals import message_bounced
from aftersale.messaging.status import INITIAL_STATUSES, check_transition, statuses_before
from aftersale.messaging.template_library import library_templates
from aftersale.messaging.transports.base import Outcome, OutgoingEmail, SendResult, Transport
from aftersale.messaging.transports.configured import configured_transport
from aftersale.messaging.transports.esp import BackendTransport
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE = dt.timedelta(minutes=5)


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


# --- the outbox: queuing, and what became of each email --------------------------------


def queue_message(
    *,
    idempotency_key: str,
    customer: Customer,
    template_slug: str,
    now: dt.datetime,
    send_after: dt.datetime | None = None,
    flow_id: int | None = None,
    enrollment_id: int | None = None,
    step_index: int | None = None,
    order_id: int | None = None,
    checkout_id: int | None = None,
    campaign: str = "",
    coupon: Coupon | None = None,
    recommendations: list[dict[str, object]] | None = None,
    skipped_because: str = "",
) -> bool:
    """Put one email to `customer` in the outbox, due at `send_after` (default `now`),
    or with `skipped_because` record that it was decided against (status skipped). The
    key makes a retried decision a no-op: True only when a new queued email was added.
    Raises EmailTemplate.DoesNotExist when the store has no template `template_slug`."""
    status = MessageStatus.SKIPPED if skipped_because else MessageStatus.QUEUED
    assert status in INITIAL_STATUSES
    template = EmailTemplate.objects.get(store_id=customer.store_id, slug=template_slug)
    _, created = Message.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "store_id": customer.store_id,
            "customer": customer,
            "template": template,
            "flow_id": flow_id,
            "enrollment_id": enrollment_id,
            "step_index": step_index,
            "order_id": order_id,
            "checkout_id": checkout_id,
            "campaign": campaign,
            "to_email": customer.email,
            "queued_at": now,
            "send_after": send_after or now,
            "coupon": coupon,
            "recommendations": recommendations or [],
            "status": status,
            "error": skipped_because,
        },
    )
    return created and status == MessageStatus.QUEUED


def report_status(*, message: Message, status: MessageStatus, **fields: Any) -> str:
    """Move a handed-over `message` to `status` (with `fields`, e.g. delivered_at) as an
    email service reported it, if the status table allows the move from where it is now.
    The check is part of the UPDATE, so a report racing the sender or another report
    cannot skip it. Returns what happened, for the caller's log: the new status, or why
    nothing changed."""
    allowed = statuses_before(status, reported=True)
    if Message.objects.filter(pk=message.pk, status__in=allowed).update(status=status, **fields):
        return status.value
    current = Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()
    if current == status:
        return f"already {status.value}"
    logger.info("message %s is %s: the reported %s is refused", message.pk, current, status.value)
    return f"refused: {current} -> {status.value}"


def record_hard_bounce(*, message: Message, now: dt.datetime) -> None:
    """`message`'s address is dead: suppress it for every flow and every email of the
    store, and announce the bounce (message_bounced) to the apps that keep timelines."""
    with transaction.atomic():
        suppress(
            store_id=message.store_id,
            email=message.to_email,
            reason=SuppressionReason.HARD_BOUNCE,
            now=now,
        )
        message_bounced.send(sender=Message, message=message, at=now)


def suppress(*, store_id: int, email: str, reason: SuppressionReason, now: dt.datetime) -> None:
    """Put `email` on `store`'s suppression list. An address already there keeps its
    first reason, except that a hard bounce replaces a softer one: a dead address must
    not get even transactional email."""
    address = email.strip().lower()
    Suppression.objects.bulk_create(
        [Suppression(store_id=store_id, email=address, reason=reason, created_at=now)],
        ignore_conflicts=True,  # two requests at once: the first row wins
    )
    if reason == SuppressionReason.HARD_BOUNCE:
        Suppression.objects.filter(store_id=store_id, email=address).update(reason=reason)


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
    due = due_messages(now=now, store=store)
    claimed = claim_rows(due, limit=limit, token=claim, until=now + lease)
    return for_rendering(claimed.order_by("send_after", "id"))


# --- sending ------------------------------------------------------------------------

# Emails handed to the transport as one batch (pipelined over SMTP), each rendered as the
# transport takes it; accepted ones recorded at once, the rest after the batch. A batch
# reads its facts in a few queries and builds what its emails share once, so larger is
# cheaper per email (~4% from 100 to 250); it holds its rendered emails (~30 MB here).
SEND_CHUNK = 250


@dataclass
class SendSummary:
    """What one pass of the sender did."""

    delivered: int = 0
    sent: int = 0  # handed to an email service, whose webhooks report delivery later
    bounced: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, status: str) -> None:
        """Count one message's outcome (a MessageStatus value, or "deferred")."""
        setattr(self, status, getattr(self, status) + 1)

    @property
    def total(self) -> int:
        """How many messages the pass handled."""
        return (
            self.delivered + self.sent + self.bounced + self.deferred + self.failed + self.skipped
        )


def send_queued_messages(
    *,
    now: dt.datetime,
    limit: int = 500,
    store: Store | None = None,
    connection: Transport[Any, Any] | BaseEmailBackend | None = None,
    worker_id: str | None = None,
) -> SendSummary:
    """Claim the due queued messages (up to `limit`, all stores unless `store`), render
    them and hand them over in batches through `connection` (a transport, or a Django
    email backend; by default the configured transport, closed afterwards). Every message
    ends the pass delivered (sent, for an email service), bounced (a permanent refusal
    of the address: suppressed), deferred for a later retry with exponential backoff (a
    temporary refusal or a dropped connection; failed after MAX_ATTEMPTS), failed (its
    template cannot render, or it cannot be sent at all) or skipped (suppressed, or no
    marketing consent). When the server cannot be reached the rest of the pass waits.
    No message is lost or sent twice by one pass, and each status change applies only
    while we still hold its claim."""
    messages = claim_due_messages(now=now, limit=limit, store=store, worker_id=worker_id)
    summary = SendSummary()
    if not messages:
        return summary
    transport = _transport_for(connection)
    try:
        for start in range(0, len(messages), SEND_CHUNK):
            reachable = _send_chunk(
                messages[start : start + SEND_CHUNK], transport=transport, now=now, summary=summary
            )
            if not reachable:
                rest = messages[start + SEND_CHUNK :]
                _write_updates([(message, {}) for message in rest])  # they stay due
                summary.deferred += len(rest)
                break
    finally:
        if connection is None:
            transport.close()
    return summary


def _transport_for(
    connection: Transport[Any, Any] | BaseEmailBackend | None,
) -> Transport[Any, Any]:
    if connection is None:
        return configured_transport()
    if isinstance(connection, BaseEmailBackend):
        return BackendTransport(connection)
    return connection


_Update = tuple[Message, dict[str, Any]]


@dataclass(frozen=True)
class _Ready:
    rendered: RenderedEmail
    outgoing: OutgoingEmail


def _send_chunk(
    messages: list[Message],
    *,
    transport: Transport[Any, Any],
    now: dt.datetime,
    summary: SendSummary,
) -> bool:
    """Render, send and record `messages`; False when the server could not be reached
    (those not handed over stay due)."""
    updates: list[_Update] = []
    ready: list[tuple[Message, RenderedEmail, OutgoingEmail]] = []
    suppressed = _suppression_reasons(messages)
    facts = facts_for_messages(messages)  # what the contexts need, for the whole batch
    unsent = iter(messages)

    def rendered_emails() -> Iterator[OutgoingEmail]:
        # Rendered one at a time as the transport takes them: over SMTP each renders
        # while the relay takes in the one before.
        for message in unsent:
            reason = suppressed.get((message.store_id, _key(message.to_email)))
            prepared = _prepared(message, suppressed=reason, now=now, facts=facts[message.pk])
            if isinstance(prepared, _Ready):
                ready.append((message, prepared.rendered, prepared.outgoing))
                yield prepared.outgoing
            else:
                updates.append(prepared)

    recorded: list[_Update] = []

    def record_if_accepted(index: int, result: SendResult) -> None:
        # An accepted email is recorded at once, before the relay can accept the next:
        # a worker killed mid-batch then leaves at most one email sent but not recorded
        # (sent again by whoever takes the claim over), not the whole batch.
        if result.outcome is Outcome.ACCEPTED:
            message, rendered, outgoing = ready[index]
            update = _after_send(message, rendered, outgoing, result, transport=transport, now=now)
            _write_update(update, cursor=cursor)
            recorded.append(update)

    with connection.cursor() as cursor:  # one for every record of the chunk
        results = transport.send(rendered_emails(), on_result=record_if_accepted)
    # Emails the transport did not take (it lost the server) stay due as they are.
    updates += [(message, {}) for message in unsent]
    reachable = True
    for (message, rendered, outgoing), result in zip(ready, results, strict=True):
        if result.outcome is Outcome.ACCEPTED:
            continue
        if result.outcome is Outcome.UNREACHABLE:
            # One attempt counts against the first (so a dead relay fails messages in
            # the end); the others were never tried and stay due as they are.
            updates.append(
                _deferred(message, now=now, error=result.detail) if reachable else (message, {})
            )
            reachable = False
            continue
        updates.append(
            _after_send(message, rendered, outgoing, result, transport=transport, now=now)
        )
    _write_updates(updates)
    for _, fields in updates + recorded:
        summary.add(fields.get("status", "deferred"))
    return reachable


def _prepared(
    message: Message, *, suppressed: str | None, now: dt.datetime, facts: EmailFacts
) -> _Ready | _Update:
    """The email to send for `message`, or the update that says why there is none
    (skipped: suppressed or no consent; failed: it cannot render)."""
    reason = _skip_reason(message, suppressed)
    if reason:
        return _finished(message, MessageStatus.SKIPPED, error=reason)
    try:
        rendered = render_message(message=message, now=now, facts=facts)
    except TemplateError as exc:
        return _finished(message, MessageStatus.FAILED, error=str(exc))
    except Exception as exc:  # a bug must not take the rest of the batch down with it
        logger.exception("rendering message %s failed", message.pk)
        return _finished(message, MessageStatus.FAILED, error=f"internal error: {exc!r}")
    return _Ready(rendered, outgoing_email(message=message, rendered=rendered, now=now))


def _key(email: str) -> str:
    return email.strip().lower()


def _suppression_reasons(messages: list[Message]) -> dict[tuple[int, str], str]:
    """(store id, address) -> why it is suppressed, for the recipients of `messages`:
    one query for the batch instead of one per message."""
    rows = Suppression.objects.filter(
        store_id__in={m.store_id for m in messages}, email__in={_key(m.to_email) for m in messages}
    ).values_list("store_id", "email", "reason")
    return {(store_id, email): reason for store_id, email, reason in rows}


def _skip_reason(message: Message, suppressed: str | None) -> str:
    customer = message.customer
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


def outgoing_email(*, message: Message, rendered: RenderedEmail, now: dt.datetime) -> OutgoingEmail:
    """The email for `message`: From the store, Reply-To its per-message address on the
    store's reply domain (else the store's reply-to), a fresh Message-ID, and, for
    marketing, RFC 8058 one-click unsubscribe headers."""
    store = message.store
    headers = [("X-Aftersale-Message", str(message.pk))]
    if is_marketing(message):
        headers += _unsubscribe_headers(message)
    if store.reply_domain:
        reply_to = reply_address(message.pk, domain=store.reply_domain)
    else:
        reply_to = store.reply_to
    email = Email(
        from_name=store.name,
        from_address=store.from_email,
        to=message.to_email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        html_quoted=rendered.html_quoted,
        message_id=_message_id(message.pk, sender=store.from_email),
        date=now,
        reply_to=reply_to,
        headers=tuple(headers),
    )
    return OutgoingEmail(message_pk=message.pk, email=email)


def _message_id(pk: int | None, *, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<aftersale.{pk or 'test'}.{random_hex(8)}@{domain}>"


def _unsubscribe_headers(message: Message) -> list[tuple[str, str]]:
    mailbox = message.store.reply_to or message.store.from_email
    mailto = f"mailto:{mailbox}?subject={quote('unsubscribe ' + unsubscribe_token(message.pk))}"
    return [
        ("List-Unsubscribe", f"<{unsubscribe_url(message.pk)}>, <{mailto}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def _after_send(
    message: Message,
    rendered: RenderedEmail,
    outgoing: OutgoingEmail,
    result: SendResult,
    *,
    transport: Transport[Any, Any],
    now: dt.datetime,
) -> _Update:
    sent = {
        "subject": rendered.subject[:300],
        "message_id": outgoing.email.message_id,
        "tracked_urls": list(rendered.links),
    }
    if result.provider_id or message.esp_message_id:  # an unchanged "" costs an index write
        sent["esp_message_id"] = result.provider_id[:200]
    if result.outcome is Outcome.ACCEPTED:
        delivered = (
            {"delivered_at": now} if transport.accepted_status == MessageStatus.DELIVERED else {}
        )
        return _finished(
            message, transport.accepted_status, error="", sent_at=now, **delivered, **sent
        )
    if result.outcome is Outcome.REJECTED:
        record_hard_bounce(message=message, now=now)
        return _finished(
            message, MessageStatus.BOUNCED, error=result.detail, bounced_at=now, **sent
        )
    if result.outcome is Outcome.FAILED:
        return _finished(message, MessageStatus.FAILED, error=result.detail)
    return _deferred(message, now=now, error=result.detail)


def _finished(message: Message, status: MessageStatus, *, error: str, **fields: Any) -> _Update:
    check_transition(MessageStatus.QUEUED, status)  # what the UPDATE's condition holds
    if error or message.error:  # an error left from an earlier attempt is cleared
        fields["error"] = error
    return message, {"status": status.value, **fields}


def _deferred(message: Message, *, now: dt.datetime, error: str) -> _Update:
    attempts = message.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        error = f"gave up after {attempts} attempts: {error}"
        return _finished(message, MessageStatus.FAILED, error=error, attempts=attempts)
    later = now + RETRY_BASE * 2**message.attempts
    return message, {"attempts": attempts, "send_after": later, "error": error}


def _write_updates(updates: list[_Update]) -> None:
    """Give each message its new field values and release its claim, with one UPDATE
    per set of changed fields, touching only rows still queued under the claim we hold
    (a claim that expired and was taken over is left to its new owner)."""
    groups: dict[tuple[str, ...], list[_Update]] = {}
    for message, fields in updates:
        groups.setdefault(tuple(fields), []).append((message, fields))
    with transaction.atomic():
        for names, rows in groups.items():
            _update_owned_rows(names, rows)


def _write_update(update: _Update, *, cursor: CursorWrapper) -> None:
    """`_write_updates` for one message through `cursor`, as one small prepared-shape
    UPDATE (no VALUES list, no transaction of its own: a single statement is atomic),
    cheap enough to run for every email the moment the relay accepts it."""
    message, values = update
    params = [_db_value(_field(name), value) for name, value in values.items()]
    cursor.execute(
        _single_row_update(tuple(values)),
        [*params, message.pk, message.claimed_by, MessageStatus.QUEUED.value],
    )


def _db_value(field: Field[Any, Any], value: Any) -> Any:
    """`value` of `field` as the database takes it; a moment (the pass's `now`, the
    same for every message) is prepared once."""
    if isinstance(value, dt.datetime):
        return _db_moment(field, value, connection.vendor)
    return field.get_db_prep_value(value, connection)


@functools.lru_cache(maxsize=16)
def _db_moment(field: Field[Any, Any], moment: dt.datetime, vendor: str) -> Any:
    return field.get_db_prep_value(moment, connection)


@functools.cache
def _single_row_update(names: tuple[str, ...]) -> str:
    """The UPDATE of `_write_update` for a set of changed fields (few: one per kind of
    outcome), built once."""
    table = Message._meta.db_table
    assignments = ", ".join(["claimed_until = NULL", *(f"{_field(n).column} = %s" for n in names)])
    return f"UPDATE {table} SET {assignments} WHERE id = %s AND claimed_by = %s AND status = %s"


def _update_owned_rows(names: tuple[str, ...], rows: list[_Update]) -> None:
    """UPDATE ... FROM a VALUES list (SQLite 3.33+, PostgreSQL): one statement sets
    per-row values; each value is prepared by its model field, so it arrives typed."""
    table = Message._meta.db_table
    fields = [_field(name) for name in names]
    columns = ["id", "claimed_by", *(str(field.column) for field in fields)]
    params: list[Any] = []
    for message, values in rows:
        params += [message.pk, message.claimed_by]
        params += [f.get_db_prep_value(values[f.name], connection) for f in fields]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    assignments = ", ".join(["claimed_until = NULL", *(f"{c} = v.{c}" for c in columns[2:])])
    sql = (
        f"WITH v({', '.join(columns)}) AS (VALUES {placeholders}) "
        f"UPDATE {table} SET {assignments} FROM v "
        f"WHERE {table}.id = v.id AND {table}.claimed_by = v.claimed_by AND {table}.status = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MessageStatus.QUEUED.value])


def _field(name: str) -> Field[Any, Any]:
    field = Message._meta.get_field(name)
    assert isinstance(field, Field), name  # only concrete columns are ever written here
    return field


# --- test emails --------------------------------------------------------------------

TEST_SUBJECT_PREFIX = "[Test] "


def send_test_email(
    *,
    template: EmailTemplate,
    customer: Customer,
    to: str,
    now: dt.datetime,
    transport: Transport[Any, Any] | None = None,
) -> SendResult:
    """Render `template` for `customer` as its preview shows it (previews.preview_template)
    and send it to `to` through `transport` (the configured one by default) with
    "[Test] " before its subject, so a merchant sees what the customer would get.
    Nothing is recorded: no message row, no flow step, no tracking (links go straight
    to the shop, no open pixel, no unsubscribe headers). Returns what the transport made
    of it; a template that cannot render raises TemplateError."""
    rendered = preview_template(template=template, customer=customer, now=now)
    store = template.store
    email = Email(
        from_name=store.name,
        from_address=store.from_email,
        to=to,
        subject=TEST_SUBJECT_PREFIX + rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=_message_id(None, sender=store.from_email),
        date=now,
        reply_to=store.reply_to,
        headers=(("X-Aftersale-Test", "1"),),
    )
    own = transport is None
    transport = transport or configured_transport()
    try:
        return transport.send([OutgoingEmail(message_pk=0, email=email)])[0]
    finally:
        if own:
            transport.close()
