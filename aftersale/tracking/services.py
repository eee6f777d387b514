"""Recording what recipients do with an email (opens, clicks, replies, unsubscribes,
complaints, bounces) as events; the suppression list they lead to is messaging's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from aftersale.customers.services import unsubscribe
from aftersale.messaging.models import Engagement, Message, SuppressionReason
from aftersale.messaging.outbox.services import record_engagement, suppress
from aftersale.stores.models import Store
from aftersale.tracking.machines import machine_open_reason
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.signals import engagement_recorded

_URL_MAX = 1000  # Event.url's length
# The once-keys whose first event is also marked on the message, for the reports.
_ENGAGEMENT_OF_KEY = {
    "open": Engagement.READ,
    "reply": Engagement.REPLIED,
    "unsubscribe": Engagement.UNSUBSCRIBED,
}


def record_open(*, message: Message, user_agent: str, now: dt.datetime) -> bool:
    """Record that `message`'s pixel was fetched at `now`: one `opened` event per
    message for a person and at most one more flagged data={"machine": true} for a
    privacy proxy or scanner, so a proxy's prefetch never hides the real read that
    follows. Messages never sent record nothing. True when an event was added."""
    if message.sent_at is None:
        return False
    reason = machine_open_reason(
        user_agent=user_agent, delivered_at=message.delivered_at or message.sent_at, now=now
    )
    return _record_open_once(message, machine_reason=reason, now=now, data={})


def record_click(*, message: Message, index: int, url: str, now: dt.datetime) -> bool:
    """Record the first click on link `index` (destination `url`) of `message`; later
    clicks on the same link add nothing. True when this was the first."""
    return _record_once(
        message,
        kind=EventKind.CLICKED,
        key=f"click:{index}",
        now=now,
        url=url[:_URL_MAX],
        data={"link": index},
    )


def unsubscribe_recipient(*, message: Message, now: dt.datetime) -> bool:
    """Unsubscribe `message`'s recipient from all marketing email of its store: the
    customer's unsubscribed_at is set, the address is suppressed and one `unsubscribed`
    event is recorded for the message. Repeating it changes nothing; True the first
    time."""
    with transaction.atomic():
        unsubscribe(customer=message.customer, now=now)
        suppress(
            store_id=message.store_id,
            email=message.to_email,
            reason=SuppressionReason.UNSUBSCRIBED,
            now=now,
        )
        return _record_once(message, kind=EventKind.UNSUBSCRIBED, key="unsubscribe", now=now)


def record_complaint(*, message: Message, now: dt.datetime) -> None:
    """The recipient of `message` reported it as spam: suppress the address for every
    flow of the store and record a `complained` event."""
    with transaction.atomic():
        suppress(
            store_id=message.store_id,
            email=message.to_email,
            reason=SuppressionReason.COMPLAINT,
            now=now,
        )
        _record_once(message, kind=EventKind.COMPLAINED, key="complaint", now=now)


def _record_once(
    message: Message,
    *,
    kind: EventKind,
    key: str,
    now: dt.datetime,
    url: str = "",
    data: dict[str, Any] | None = None,
) -> bool:
    """Add the event unless the message already has one with `key`; True when added.
    The unique constraint on (message, once_key) decides, so concurrent requests for the
    same event add one row."""
    if Event.objects.filter(message=message, once_key=key).exists():
        return False  # the common repeat: skip the write
    event = Event(
        store_id=message.store_id,
        customer_id=message.customer_id,
        message=message,
        kind=kind,
        occurred_at=now,
        url=url,
        data=data or {},
        once_key=key,
    )
    try:
        with transaction.atomic():  # a savepoint, so a lost race leaves the outer one usable
            event.save(force_insert=True)
            engagement = _ENGAGEMENT_OF_KEY.get(key)
            if engagement is None and key.startswith("click:"):
                engagement = Engagement.CLICKED
            if engagement is not None:
                record_engagement(message_id=message.pk, engagement=engagement)
            if engagement in (Engagement.READ, Engagement.CLICKED):
                engagement_recorded.send(
                    sender=Event,
                    store_id=message.store_id,
                    customer_id=message.customer_id,
                    occurred_at=now,
                )
    except IntegrityError:
        return False
    return True


def record_reported_open(*, message: Message, machine_reason: str, now: dt.datetime) -> bool:
    """Record an open of `message` that its email service provider reported: the same
    once-per-message `opened` events as `record_open` adds for the pixel, flagged machine
    with `machine_reason` when it is not empty. True when an event was added."""
    return _record_open_once(
        message, machine_reason=machine_reason, now=now, data={"source": "esp"}
    )


def _record_open_once(
    message: Message, *, machine_reason: str, now: dt.datetime, data: dict[str, Any]
) -> bool:
    data = {**data, "machine": bool(machine_reason)}
    if machine_reason:
        data["why"] = machine_reason
    key = "open:machine" if machine_reason else "open"
    return _record_once(message, kind=EventKind.OPENED, key=key, now=now, data=data)


def record_reply(*, message: Message, sender: str, now: dt.datetime) -> bool:
    """Record that `sender` replied to `message`: one `replied` event per message, which
    the report counts; later replies add nothing. True the first time."""
    data = {"from": sender[:254]}
    return _record_once(message, kind=EventKind.REPLIED, key="reply", now=now, data=data)


def record_customer_event(
    *,
    store: Store,
    customer_id: int,
    kind: EventKind,
    occurred_at: dt.datetime,
    data: dict[str, Any],
) -> Event:
    """Record something a customer did in the store (viewed a product, or an event the
    store defines and posts); such events may repeat, so each call adds one."""
    return Event.objects.create(
        store=store, customer_id=customer_id, kind=kind, occurred_at=occurred_at, data=data
    )


def on_message_bounced(*, message: Message, at: dt.datetime, **_: Any) -> None:
    """messaging's message_bounced signal (messaging has suppressed the address): the
    message's one `bounced` event joins the customer's timeline."""
    _record_once(message, kind=EventKind.BOUNCED, key="bounce", now=at)


# What an event of an email may say about the person, rather than about the email:
# the address a reply came from.
_PERSONAL_DATA_KEYS = ("from",)


def erase_customer_events(*, customer_id: int) -> None:
    """Delete what the customer did that no report counts (product views, the store's
    own events) and strip the links and the reply sender from the events of their
    emails, which stay as the opens, clicks, replies and unsubscribes the reports count
    (with what they count by: whether an open was a machine's)."""
    events = Event.objects.filter(customer_id=customer_id)
    events.filter(message__isnull=True).delete()
    events.update(url="")
    personal = [
        event
        for event in events.filter(kind=EventKind.REPLIED)
        if any(key in event.data for key in _PERSONAL_DATA_KEYS)
    ]
    for event in personal:
        event.data = {k: v for k, v in event.data.items() if k not in _PERSONAL_DATA_KEYS}
    Event.objects.bulk_update(personal, ["data"])
