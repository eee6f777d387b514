"""Reading messages and templates."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from aftersale.messaging.models import EmailTemplate, Message, MessageStatus
from aftersale.stores.models import Store

# What rendering and sending touch of each message's own rows, fetched in its query...
RENDER_RELATIONS = ("customer", "coupon__program", "order", "enrollment__trigger_order")
# ...and the rows messages share, read once per batch and shared (a template's
# translations are parsed once, not once per message).
SHARED_RELATIONS = ("store", "template", "flow")


def for_rendering(messages: QuerySet[Message]) -> QuerySet[Message]:
    """`messages` with every relation rendering and sending need loaded (two queries
    for the rows of RENDER_RELATIONS, then one per SHARED_RELATIONS)."""
    return messages.select_related(*RENDER_RELATIONS).prefetch_related(*SHARED_RELATIONS)


def due_messages(*, now: dt.datetime, store: Store | None = None) -> QuerySet[Message]:
    """Queued messages whose send time has come and that no worker holds a live claim
    on, oldest first; all stores unless `store` is given."""
    due = Message.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        status=MessageStatus.QUEUED,
        send_after__lte=now,
    )
    if store is not None:
        due = due.filter(store=store)
    return due.order_by("send_after", "id")


def template_by_slug(*, store: Store, slug: str) -> EmailTemplate | None:
    """The store's template `slug`, or None."""
    return EmailTemplate.objects.filter(store=store, slug=slug).first()


def store_templates(*, store: Store) -> QuerySet[EmailTemplate]:
    """The store's templates by slug."""
    return EmailTemplate.objects.filter(store=store).order_by("slug")
