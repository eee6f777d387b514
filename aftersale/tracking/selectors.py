"""Reading tracking data: the message behind a token, click destinations, suppressions,
and which opens count as reads."""

from __future__ import annotations

from django.db.models import Q

from aftersale.messaging.models import Message
from aftersale.stores.models import Store
from aftersale.tracking.models import EventKind, Suppression


def tracked_message(*, message_id: int) -> Message | None:
    """Message `message_id` with its store and customer, or None when it does not exist
    (any more)."""
    return Message.objects.select_related("store", "customer").filter(pk=message_id).first()


def click_destination(*, message: Message, index: int) -> str | None:
    """The destination recorded for link `index` of `message` when it was sent, or None
    when the message has no such link: nothing else is ever redirected to."""
    urls = message.tracked_urls
    if not isinstance(urls, list) or not 0 <= index < len(urls):
        return None
    url = urls[index]
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def suppression_reason(*, store: Store | int, email: str) -> str | None:
    """Why the store may not email `email` any more (a SuppressionReason value), or None
    when it may. One indexed query."""
    store_id = store if isinstance(store, int) else store.pk
    rows = Suppression.objects.filter(store_id=store_id, email=email.strip().lower())
    return rows.values_list("reason", flat=True).first()


def human_open_filter(*, prefix: str = "") -> Q:
    """A filter matching `opened` events that count as reads: not flagged machine (a
    privacy proxy or scanner fetching the pixel). `prefix` is the path to the event from
    the queried model, e.g. "events__" from Message, so the report can count reads as
    Count("events__message_id", filter=human_open_filter(prefix="events__"),
    distinct=True). Opens from other sources without the flag count as reads."""
    machine = f"{prefix}data__machine"
    return Q(**{f"{prefix}kind": EventKind.OPENED}) & (
        Q(**{machine: False}) | Q(**{f"{machine}__isnull": True})
    )
