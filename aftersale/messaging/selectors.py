"""Reading messages and templates."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from aftersale.messaging.models import EmailTemplate, Message, MessageStatus
from aftersale.stores.models import Store

# Everything rendering and sending touch, fetched with the message in one query.
RENDER_RELATIONS = (
    "store",
    "customer",
    "template",
    "flow",
    "coupon__program",
    "order",
    "enrollment__trigger_order",
)


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


def messages_for_rendering(*, ids: list[int]) -> list[Message]:
    """The messages `ids` with every relation rendering needs already loaded."""
    return list(Message.objects.filter(id__in=ids).select_related(*RENDER_RELATIONS).order_by("id"))


def template_by_slug(*, store: Store, slug: str) -> EmailTemplate | None:
    """The store's template `slug`, or None."""
    return EmailTemplate.objects.filter(store=store, slug=slug).first()


def store_templates(*, store: Store) -> QuerySet[EmailTemplate]:
    """The store's templates by slug."""
    return EmailTemplate.objects.filter(store=store).order_by("slug")
