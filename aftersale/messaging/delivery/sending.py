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

from aftersale.customers.models import Customer
from aftersale.messaging.delivery.transports.base import (
    Outcome,
    OutgoingEmail,
    SendResult,
    Transport,
)
from aftersale.messaging.delivery.transports.configured import configured_transport
from aftersale.messaging.mime import Email, random_hex
from aftersale.messaging.models import EmailTemplate, Message, MessageStatus, SuppressionReason
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
    transport = _transport_for(connection)
    try:
        for start in range(0, len(messages), SEND_CHUNK):
            _send_chunk(
                messages[start : start + SEND_CHUNK], transport=transport, now=now, summary=summary
            )
            if summary.fault:
                rest = messages[start + SEND_CHUNK :]
                write_updates([(message, {}) for message in rest])  # they stay due
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
) -> None:
    """Render, send and record `messages`; when the server cannot be used, say why in
    `summary.fault` (those not handed over stay due)."""
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
        # An accepted email is recorded at once, before the relay can accept the next:
        # a worker killed mid-batch then leaves at most one email sent but not recorded
        # (sent again by whoever takes the claim over), not the whole batch.
        if result.outcome is Outcome.ACCEPTED:
            message, rendered, outgoing = ready[index]
            update = _after_send(message, rendered, outgoing, result, transport=transport, now=now)
            write_update(update, cursor=cursor)
            recorded.append(update)

    with connection.cursor() as cursor:  # one for every record of the chunk
        results = transport.send(rendered_emails(), on_result=record_if_accepted)
    # Emails the transport did not take (it lost the server) stay due as they are.
    updates += [(message, {}) for message in unsent]
    for (message, rendered, outgoing), result in zip(ready, results, strict=True):
        if result.outcome is Outcome.ACCEPTED:
            continue
        if result.outcome is Outcome.UNAVAILABLE:
            # A transport fault, not the email's: it stays due as it is, and the caller
            # pauses sending until the server can be used again.
            updates.append((message, {}))
            summary.fault = summary.fault or result.detail
            continue
        updates.append(
            _after_send(message, rendered, outgoing, result, transport=transport, now=now)
        )
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
    reason = _skip_reason(message, suppressed)
    if reason:
        return finished(message, MessageStatus.SKIPPED, error=reason)
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
        logger.exception("rendering message %s failed", message.pk)
        return finished(message, MessageStatus.FAILED, error=f"internal error: {exc!r}")
    return _Ready(rendered, outgoing_email(message=message, rendered=rendered, now=now))


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
