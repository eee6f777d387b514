"""What an email service provider reports about a sent message: delivery, bounces,
complaints, unsubscribes, opens and clicks, through django-anymail's normalized tracking
events.

anymail's webhook views (under /esp/, see docs/webhooks.md) check each request's secret or
signature and parse the ESP's payload; `on_tracking` receives every event and
`apply_esp_event` turns it into message statuses, suppressions and events."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.dispatch import receiver

from aftersale.lib import clock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.messaging.outbox.services import record_hard_bounce, report_status
from aftersale.tracking.machines import machine_open_reason
from aftersale.tracking.selectors import link_index, message_for_esp_event
from aftersale.tracking.services import (
    record_click,
    record_complaint,
    record_reported_open,
    unsubscribe_recipient,
)

logger = logging.getLogger(__name__)

# Where a transport may put our message id when the ESP's own id is not enough: the
# metadata key (the X-Aftersale-Message header's name is accepted too) or a tag.
METADATA_KEYS = ("aftersale_message", "X-Aftersale-Message")
TAG_PREFIX = "aftersale-message-"

# Where an ESP's raw event names the kind of a bounce or rejection (a path of keys), by
# ESP (anymail's esp_name) and anymail event type...
_KIND_AT: dict[tuple[str, str], tuple[str, ...]] = {
    ("Postmark", EventType.BOUNCED): ("Type",),
    ("SendGrid", EventType.BOUNCED): ("type",),
    ("Amazon SES", EventType.BOUNCED): ("bounce", "bounceType"),
    ("Amazon SES", EventType.REJECTED): ("eventType",),
}
# ...and the kinds the ESP itself calls temporary, uncertain or not about the address
# (Postmark's SoftBounce and VirusNotification, SendGrid's "blocked", Amazon SES's
# Transient and Undetermined bounces and its Reject for the content, a virus): the
# message did not arrive, but the address may work tomorrow, so nothing is suppressed.
_ADDRESS_MAY_WORK: dict[str, frozenset[str]] = {
    "Postmark": frozenset({"softbounce", "virusnotification"}),
    "SendGrid": frozenset({"blocked"}),
    "Amazon SES": frozenset({"transient", "undetermined", "reject"}),
}

_Handler = Callable[[Message, AnymailTrackingEvent, str, dt.datetime], str]


def apply_esp_event(*, event: AnymailTrackingEvent, esp_name: str, now: dt.datetime) -> str:
    """Apply one ESP event to the message it is about and say what happened:
    delivered moves the message to delivered; bounced and rejected move it to bounced and
    suppress the address as a hard bounce, unless the ESP calls the bounce soft or refused
    the message for its content (Amazon SES's Reject); failed moves it to failed;
    complained suppresses the address and records a complaint;
    unsubscribed unsubscribes the customer; opened and clicked record the same
    once-per-message events as the pixel and the click redirect. Invalid status moves are
    refused ("refused: ..."); other event types, events without a recipient ("no
    recipient") and events about no message of ours sent to that recipient ("no such
    message"), change nothing. Safe to repeat: ESPs deliver events more than
    once."""
    handler = _HANDLERS.get(event.event_type)
    if handler is None:
        return "ignored"
    if not str(event.recipient or "").strip():
        # Without a recipient nothing ties the event to the person the message went to:
        # an unsigned payload naming a message id must not unsubscribe its recipient.
        logger.warning(
            "%s %s event without a recipient (id %r): ignored",
            esp_name,
            event.event_type,
            event.message_id,
        )
        return "no recipient"
    message = message_for_esp_event(
        esp_message_id=str(event.message_id or ""),
        aftersale_id=_our_message_id(event),
        recipient=str(event.recipient or ""),
    )
    if message is None:
        logger.warning(
            "%s %s event for no message of ours (id %r): ignored",
            esp_name,
            event.event_type,
            event.message_id,
        )
        return "no such message"
    return handler(message, event, esp_name, _when(event, message=message, now=now))


@receiver(tracking, dispatch_uid="aftersale.tracking.esp_events")
def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **_: Any) -> None:
    """anymail's tracking signal: apply the event."""
    outcome = apply_esp_event(event=event, esp_name=esp_name, now=clock.now())
    logger.info("%s %s event for %r: %s", esp_name, event.event_type, event.message_id, outcome)


def _delivered(
    message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime
) -> str:
    return report_status(message=message, status=MessageStatus.DELIVERED, delivered_at=at)


def _bounced(message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime) -> str:
    outcome = report_status(
        message=message, status=MessageStatus.BOUNCED, bounced_at=at, error=_describe(event)
    )
    if _address_may_work(event, esp_name=esp_name):
        return f"{outcome} (soft: not suppressed)"
    # The address is dead whatever the message's status says: suppress it anyway.
    record_hard_bounce(message=message, now=at)
    return outcome


def _failed(message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime) -> str:
    return report_status(message=message, status=MessageStatus.FAILED, error=_describe(event))


def _complained(
    message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime
) -> str:
    record_complaint(message=message, now=at)
    return "complained"


def _unsubscribed(
    message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime
) -> str:
    unsubscribe_recipient(message=message, now=at)
    return "unsubscribed"


def _opened(message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime) -> str:
    reason = _machine_reason(event, message=message, at=at)
    if not record_reported_open(message=message, machine_reason=reason, now=at):
        return "open already recorded"
    return f"opened by a machine: {reason}" if reason else "opened"


def _clicked(message: Message, event: AnymailTrackingEvent, esp_name: str, at: dt.datetime) -> str:
    url = str(event.click_url or "")
    index = link_index(message=message, url=url)
    if index is None:
        return f"click on a link we did not track: {url[:200]!r}"
    added = record_click(message=message, index=index, url=url, now=at)
    return "clicked" if added else "click already recorded"


_HANDLERS: dict[str, _Handler] = {
    EventType.DELIVERED: _delivered,
    EventType.BOUNCED: _bounced,
    EventType.REJECTED: _bounced,
    EventType.FAILED: _failed,
    EventType.COMPLAINED: _complained,
    EventType.UNSUBSCRIBED: _unsubscribed,
    EventType.OPENED: _opened,
    EventType.CLICKED: _clicked,
}


def _when(event: AnymailTrackingEvent, *, message: Message, now: dt.datetime) -> dt.datetime:
    """When the ESP says the event happened, kept between the message's hand-over and
    now: an ESP's clock (or a replayed old payload) must not date an event before the
    message was sent, or in the future."""
    at = event.timestamp if isinstance(event.timestamp, dt.datetime) else now
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # anymail's timestamps are UTC
    if message.sent_at is not None:
        at = max(at, message.sent_at)
    return min(at, now)


def _our_message_id(event: AnymailTrackingEvent) -> int | None:
    """Our message id, when the transport passed it as metadata or as a tag."""
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    values = [metadata.get(key) for key in METADATA_KEYS]
    tags = [str(tag) for tag in event.tags or []]
    values += [tag.removeprefix(TAG_PREFIX) for tag in tags if tag.startswith(TAG_PREFIX)]
    digits = (str(value).strip() for value in values if value is not None)
    return next((int(d) for d in digits if d.isdigit()), None)


def _address_may_work(event: AnymailTrackingEvent, *, esp_name: str) -> bool:
    """Whether the ESP says its bounce or rejection is nothing against the address (see
    _ADDRESS_MAY_WORK)."""
    path = _KIND_AT.get((esp_name, event.event_type))
    if path is None:
        return False
    kind: Any = event.esp_event
    for key in path:
        kind = kind.get(key) if isinstance(kind, dict) else None
    return str(kind).lower() in _ADDRESS_MAY_WORK.get(esp_name, frozenset())


def _machine_reason(event: AnymailTrackingEvent, *, message: Message, at: dt.datetime) -> str:
    """Why an open the ESP reported was a machine's (a privacy proxy or a scanner), or ""
    for a person's."""
    payload = event.esp_event if isinstance(event.esp_event, dict) else {}
    if payload.get("sg_machine_open"):  # SendGrid's flag for Apple Mail Privacy Protection
        return "esp: machine open"
    if not event.user_agent:
        return ""  # the ESP told us nothing to judge by: take its word that it was an open
    return machine_open_reason(
        user_agent=str(event.user_agent),
        delivered_at=message.delivered_at or message.sent_at,
        now=at,
    )


def _describe(event: AnymailTrackingEvent) -> str:
    parts = [event.event_type, event.reject_reason, event.description, event.mta_response]
    return ": ".join(str(part) for part in parts if part)[:1000]
