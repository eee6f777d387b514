"""Sending the outbox: claim due emails, render them in batches, hand them to the
transport and record each outcome (delivered, sent, bounced, deferred, failed, skipped);
and test emails, which are sent and recorded nowhere."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils.html import escape

from aftersale.customers.models import Customer
from aftersale.lib.ahead import StatementsAhead
from aftersale.lib.logs import ids
from aftersale.messaging.delivery.transports.base import (
    Outcome,
    OutgoingEmail,
    SendResult,
    Transport,
)
from aftersale.messaging.delivery.transports.configured import (
    configured_transport,
    has_own_transport,
    transport_for_store,
)
from aftersale.messaging.mime import Email, random_hex
from aftersale.messaging.models import (
    EmailTemplate,
    Message,
    MessageStatus,
    SkipReason,
    SuppressionReason,
)
from aftersale.messaging.outbox.recording import (
    Update,
    deferred,
    finished,
    write_update,
    write_updates,
)
from aftersale.messaging.outbox.selectors import suppression_reasons
from aftersale.messaging.outbox.services import claim_due_messages, record_hard_bounce
from aftersale.messaging.rendering.context import EmailFacts, facts_for_messages, is_marketing
from aftersale.messaging.rendering.links import (
    reply_address,
    unsubscribe_address,
    unsubscribe_url,
)
from aftersale.messaging.rendering.previews import preview_template
from aftersale.messaging.rendering.render import (
    RenderedEmail,
    TemplateError,
    TemplateLimitExceeded,
    render_message,
)
from aftersale.stores.credentials import UnreadableCredential
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)

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
    # Why the transport could not be used (no connection, our sender or account refused):
    # the pass stopped there and its emails stay due; "" when it could.
    fault: str = ""

    def add(self, status: str) -> None:
        """Count one message's outcome (a MessageStatus value, or "deferred")."""
        setattr(self, status, getattr(self, status) + 1)

    def merge(self, other: SendSummary) -> None:
        """Add `other`'s counts to these (and its fault, if these have none)."""
        for name in ("delivered", "sent", "bounced", "deferred", "failed", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fault = self.fault or other.fault

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
    marketing consent). When the server cannot be used (unreachable, or refusing our
    sender or account: `summary.fault` says how) the rest of the pass stays due as it
    was, no attempt counted: the caller pauses sending. No message is lost or sent twice
    by one pass, and each status change applies only while we still hold its claim."""
    messages = claim_due_messages(now=now, limit=limit, store=store, worker_id=worker_id)
    summary = SendSummary()
    if not messages:
        return summary
    if connection is not None:
        _send_all(messages, transport=_transport_for(connection), now=now, summary=summary)
        return summary
    for own_store, group in _by_transport(messages):
        if own_store is None:
            transport = configured_transport()
        else:
            try:
                transport = transport_for_store(own_store)
            except UnreadableCredential as error:
                write_updates([_held(message, now=now, why=str(error)) for message in group])
                summary.deferred += len(group)
                _warn_own_transport(own_store, str(error))
                continue
        try:
            _send_all(group, transport=transport, now=now, summary=summary, own_store=own_store)
        finally:
            transport.close()
    return summary


# How long the emails of a store whose own transport cannot be used wait before the next
# try (the installation's transport pauses the whole worker instead: see worker.loop).
OWN_TRANSPORT_RETRY = dt.timedelta(minutes=5)


def _by_transport(messages: list[Message]) -> list[tuple[Store | None, list[Message]]]:
    """`messages` grouped by the transport they go through: None for the configured one
    (first), else the store whose own transport it is; in their order within a group."""
    groups: dict[int | None, list[Message]] = {None: []}
    stores: dict[int | None, Store | None] = {None: None}
    for message in messages:
        key = message.store_id if has_own_transport(message.store) else None
        groups.setdefault(key, []).append(message)
        stores[key] = message.store if key is not None else None
    return [(stores[key], group) for key, group in groups.items() if group]


def _send_all(
    messages: list[Message],
    *,
    transport: Transport[Any, Any],
    now: dt.datetime,
    summary: SendSummary,
    own_store: Store | None = None,
) -> None:
    """Send `messages` in chunks through `transport`. When it cannot be used, the rest
    stay queued: due at once, with `summary.fault` saying why, for the configured
    transport (the worker pauses); due after OWN_TRANSPORT_RETRY, with the reason in
    their error, for a store's own (the other stores' emails go on)."""
    for start in range(0, len(messages), SEND_CHUNK):
        part = SendSummary()
        hold: dict[str, Any] = {}
        if own_store is not None:
            hold = {"send_after": now + OWN_TRANSPORT_RETRY}
        _send_chunk(
            messages[start : start + SEND_CHUNK],
            transport=transport,
            now=now,
            summary=part,
            hold=hold,
        )
        fault, part.fault = part.fault, ""
        summary.merge(part)
        if fault:
            rest = messages[start + SEND_CHUNK :]
            if own_store is None:
                summary.fault = summary.fault or fault
                write_updates([(message, {}) for message in rest])  # they stay due
            else:
                write_updates([_held(message, now=now, why=fault) for message in rest])
                _warn_own_transport(own_store, fault)
            summary.deferred += len(rest)
            break


def _held(message: Message, *, now: dt.datetime, why: str) -> Update:
    """`message` left queued, no attempt counted, until OWN_TRANSPORT_RETRY from now."""
    return message, {"send_after": now + OWN_TRANSPORT_RETRY, "error": _own_fault(why)}


def _own_fault(why: str) -> str:
    return f"the store's own email transport cannot be used (retried later): {why}"


def _warn_own_transport(store: Store, why: str) -> None:
    logger.warning(
        "store %s: its own email transport cannot be used; its emails wait %d s: %s",
        store.slug,
        OWN_TRANSPORT_RETRY.total_seconds(),
        why,
        extra=ids(store=store.slug),
    )


def _transport_for(
    connection: Transport[Any, Any] | BaseEmailBackend | None,
) -> Transport[Any, Any]:
    if connection is None:
        return configured_transport()
    if isinstance(connection, BaseEmailBackend):
        # Imported here: anymail brings in requests, which only an email service needs.
        from aftersale.messaging.delivery.transports.esp import BackendTransport

        return BackendTransport(connection)
    return connection


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
    hold: dict[str, Any] | None = None,
) -> None:
    """Render, send and record `messages`; when the server cannot be used, say why in
    `summary.fault` (those not handed over stay queued, with the fields of `hold`)."""
    hold = hold or {}
    updates: list[Update] = []
    ready: list[tuple[Message, RenderedEmail, OutgoingEmail]] = []
    suppressed = suppression_reasons(messages)
    facts = facts_for_messages(messages)  # what the contexts need, for the whole batch
    unsent = iter(messages)
    runaway = _RunawayTemplates()

    def rendered_emails() -> Iterator[OutgoingEmail]:
        # Rendered one at a time as the transport takes them: over SMTP each renders
        # while the relay takes in the one before.
        for message in unsent:
            reason = suppressed.get(message.pk)
            prepared = _prepared(
                message, suppressed=reason, now=now, facts=facts[message.pk], runaway=runaway
            )
            if isinstance(prepared, _Ready):
                ready.append((message, prepared.rendered, prepared.outgoing))
                yield prepared.outgoing
            else:
                updates.append(prepared)

    recorded: list[Update] = []

    def record_if_accepted(index: int, result: SendResult) -> None:
        # An accepted email is recorded at once: its UPDATE is sent ahead, and the
        # transport waits for it (`recorded`) before the relay can accept the next
        # email, writing that one's content meanwhile. A worker killed mid-batch then
        # leaves at most one email sent but not recorded (sent again by whoever takes
        # the claim over), not the whole batch.
        if result.outcome is Outcome.ACCEPTED:
            message, rendered, outgoing = ready[index]
            update = _after_send(message, rendered, outgoing, result, transport=transport, now=now)
            write_update(update, statements=statements)
            recorded.append(update)

    with connection.cursor() as cursor:  # one for every record of the chunk
        statements = StatementsAhead(cursor)
        with statements.guarding():  # another query first waits for the record in flight
            results = transport.send(
                rendered_emails(), on_result=record_if_accepted, recorded=statements.wait
            )
    # Emails the transport did not take (it lost the server) stay due as they are.
    stayed = list(unsent)
    for (message, rendered, outgoing), result in zip(ready, results, strict=True):
        if result.outcome is Outcome.ACCEPTED:
            continue
        if result.outcome is Outcome.UNAVAILABLE:
            # A transport fault, not the email's: it stays due as it is, and the caller
            # pauses sending until the server can be used again.
            stayed.append(message)
            summary.fault = summary.fault or result.detail
            continue
        updates.append(
            _after_send(message, rendered, outgoing, result, transport=transport, now=now)
        )
    # With `hold` (a store's own transport), they wait and say why; else as they are.
    why = {"error": _own_fault(summary.fault)} if hold and summary.fault else {}
    updates += [(message, {**hold, **why} if hold else {}) for message in stayed]
    write_updates(updates)
    for _, fields in updates + recorded:
        summary.add(fields.get("status", "deferred"))


class _RunawayTemplates:
    """The templates of a batch that went over a render limit, with why: their other
    messages fail at once instead of each spending the limit's time again, so one
    merchant's runaway template cannot hold up the rest of the pass."""

    def __init__(self) -> None:
        self._refused: dict[tuple[int, dt.datetime], str] = {}

    def refused(self, template: EmailTemplate) -> str | None:
        """Why `template` (as it is now) went over a limit in this batch, if it did."""
        return self._refused.get((template.pk, template.updated_at))

    def add(self, template: EmailTemplate, error: TemplateLimitExceeded) -> None:
        """Remember that `template` went over a limit."""
        self._refused[(template.pk, template.updated_at)] = str(error)


def _prepared(
    message: Message,
    *,
    suppressed: str | None,
    now: dt.datetime,
    facts: EmailFacts,
    runaway: _RunawayTemplates,
) -> _Ready | Update:
    """The email to send for `message`, or the update that says why there is none
    (skipped: suppressed or no consent; failed: it cannot render, or its template went
    over a render limit for another message of the batch)."""
    skip = _skip_reason(message, suppressed)
    if skip is not None:
        reason, detail = skip
        return finished(message, MessageStatus.SKIPPED, error=detail, skip_reason=reason.value)
    refused = runaway.refused(message.template)
    if refused is not None:
        return finished(message, MessageStatus.FAILED, error=refused)
    try:
        rendered = render_message(message=message, now=now, facts=facts)
    except TemplateLimitExceeded as exc:
        runaway.add(message.template, exc)
        return finished(message, MessageStatus.FAILED, error=str(exc))
    except TemplateError as exc:
        return finished(message, MessageStatus.FAILED, error=str(exc))
    except Exception as exc:  # a bug must not take the rest of the batch down with it
        logger.exception(
            "rendering message %s failed",
            message.pk,
            extra=ids(message_id=message.pk, flow_id=message.flow_id),
        )
        return finished(message, MessageStatus.FAILED, error=f"internal error: {exc!r}")
    return _Ready(rendered, outgoing_email(message=message, rendered=rendered, now=now))


def _skip_reason(message: Message, suppressed: str | None) -> tuple[SkipReason, str] | None:
    """Why `message` may not be sent now, and the details (None: it may)."""
    customer = message.customer
    if suppressed == SuppressionReason.HARD_BOUNCE:
        # Dead: not even transactional email.
        return SkipReason.SUPPRESSED, "address suppressed: hard_bounce"
    if not message.to_email:
        return SkipReason.MISSING_ADDRESS, "no email address (the customer was erased)"
    if not is_marketing(message):
        return None  # transactional email goes out whatever the marketing consent
    if suppressed:
        return SkipReason.SUPPRESSED, f"address suppressed: {suppressed}"
    if customer.unsubscribed_at is not None:
        return (
            SkipReason.NO_CONSENT,
            f"customer unsubscribed at {customer.unsubscribed_at.isoformat()}",
        )
    if not customer.accepts_marketing:
        return SkipReason.NO_CONSENT, "customer does not accept marketing"
    return None


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
        from_name=store.sender_name,
        from_address=store.from_email,
        to=message.to_email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        html_quoted=rendered.html_quoted,
        text_quoted=rendered.text_quoted,
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
    """RFC 8058 one-click unsubscribe, and a mailto: on the store's reply domain, where
    Aftersale receives the mail and unsubscribes (tracking.replies). A store without a
    reply domain gets no mailto: nobody would act on it."""
    targets = [f"<{unsubscribe_url(message.pk)}>"]
    if message.store.reply_domain:
        address = unsubscribe_address(message.pk, domain=message.store.reply_domain)
        targets.append(f"<mailto:{address}?subject=unsubscribe>")
    return [
        ("List-Unsubscribe", ", ".join(targets)),
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
) -> Update:
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
        return finished(
            message, transport.accepted_status, error="", sent_at=now, **delivered, **sent
        )
    if result.outcome is Outcome.REJECTED:
        record_hard_bounce(message=message, now=now)
        return finished(message, MessageStatus.BOUNCED, error=result.detail, bounced_at=now, **sent)
    if result.outcome is Outcome.FAILED:
        return finished(message, MessageStatus.FAILED, error=result.detail)
    return deferred(message, now=now, error=result.detail)


# --- test emails --------------------------------------------------------------------

TEST_SUBJECT_PREFIX = "[Test] "


def send_test_email(
    *,
    template: EmailTemplate,
    customer: Customer,
    to: str,
    now: dt.datetime,
    transport: Transport[Any, Any] | None = None,
    locale: str = "",
) -> SendResult:
    """Render `template` (saved, or an unsaved draft an editor typed) for `customer` as
    its preview shows it (previews.preview_template, in `locale` when given) and send it
    to `to` through `transport` (the configured one by default) with "[Test] " before
    its subject, so a merchant sees what the customer would get. Nothing is recorded:
    no message row, no flow step, no tracking (links go straight to the shop, no open
    pixel, no unsubscribe headers). Returns what the transport made of it; a template
    that cannot render raises TemplateError."""
    rendered = preview_template(template=template, customer=customer, now=now, locale=locale)
    store = template.store
    email = Email(
        from_name=store.sender_name,
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
    transport = transport or transport_for_store(store)
    try:
        return transport.send([OutgoingEmail(message_pk=0, email=email)])[0]
    finally:
        if own:
            transport.close()


# A merchant waits for a test email's answer in the page: a relay that does not answer
# within this many seconds is reported as such, not waited on for EMAIL_TIMEOUT.
NOTICE_TIMEOUT = 10.0


def send_store_notice(
    *,
    store: Store,
    to: str,
    subject: str,
    text: str,
    now: dt.datetime,
    transport: Transport[Any, Any] | None = None,
) -> SendResult:
    """Send a short plain-text email from `store` (its sender name and address) to `to`
    through `transport`, by default the store's own (transport_for_store): a test email,
    an invitation. Recorded nowhere. Returns what the transport made of it; a stored
    credential that cannot be read, or an address refused before sending, come back as
    a FAILED result saying so, never as an exception."""
    html = "".join(f"<p>{escape(part)}</p>" for part in text.split("\n\n"))
    try:
        email = Email(
            from_name=store.sender_name,
            from_address=store.from_email,
            to=to,
            subject=subject,
            text=text,
            html=f"<!doctype html><html><body>{html}</body></html>",
            message_id=_message_id(None, sender=store.from_email),
            date=now,
            reply_to=store.reply_to,
            headers=(("X-Aftersale-Test", "1"),),
        )
        own = transport is None
        transport = transport or transport_for_store(store, timeout=NOTICE_TIMEOUT)
    except UnreadableCredential as error:
        return SendResult(Outcome.FAILED, detail=str(error))
    try:
        return transport.send([OutgoingEmail(message_pk=0, email=email)])[0]
    finally:
        if own:
            transport.close()
