"""Reading the outbox: due emails, what rendering needs of them, templates, suppressions
and what flows ask about earlier emails."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Min, Model, QuerySet

from aftersale.coupons.models import CouponProgram
from aftersale.coupons.selectors import pending_shop_coupons
from aftersale.lib import bulk
from aftersale.lib.claims import free_at
from aftersale.messaging.models import (
    EmailTemplate,
    Message,
    MessageStatus,
    Suppression,
    TemplateKind,
)
from aftersale.stores.models import Store

# What rendering and sending read of each message's own related rows, fetched in its
# query: only these columns, so a batch parses no dates and texts nobody writes. (A
# column left out still loads when read, one query per message: add it here instead.)
# The order, lines and checkout an email is about are read by context.facts_for_messages.
RENDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": (
        "first_name",
        "last_name",
        "locale",
        "time_zone",
        "accepts_marketing",
        "unsubscribed_at",
    ),
    "coupon": ("program", "code", "expires_at"),
}


def for_rendering(messages: QuerySet[Message]) -> list[Message]:
    """`messages`, read whole, with every relation rendering and sending need loaded: the
    columns of RENDER_COLUMNS in their query, then the rows messages share, one query per
    kind, one instance per row for the whole batch (a template's translations are parsed
    once, not once per message; one coupon program for all its coupons)."""
    own = [field.name for field in Message._meta.concrete_fields]
    related = [
        f"{name}__{column}" for name, columns in RENDER_COLUMNS.items() for column in columns
    ]
    loaded = list(messages.select_related(*RENDER_COLUMNS).only(*own, *related))
    _share(loaded, "store", Store.objects.all())
    _share(loaded, "template", EmailTemplate.objects.all())
    _share(
        [m.coupon for m in loaded if m.coupon is not None], "program", CouponProgram.objects.all()
    )
    return loaded


def _share(rows: Sequence[Model], relation: str, candidates: QuerySet[Any]) -> None:
    """Give each of `rows` the row its foreign key `relation` points to, read for all of
    them in one query, one instance per id."""
    if not rows:
        return
    key = f"{relation}_id"  # the foreign key's column attribute
    ids = {getattr(row, key) for row in rows} - {None}
    shared = candidates.in_bulk(ids) if ids else {}
    for row in rows:
        if getattr(row, key) in shared:  # else (gone meanwhile) it is read when used
            setattr(row, relation, shared[getattr(row, key)])


def due_messages(*, now: dt.datetime, store: Store | None = None) -> QuerySet[Message]:
    """Queued messages whose send time has come and that no worker holds a live claim
    on, oldest first; all stores unless `store` is given. The marketing emails of a store
    without a postal address are not due: they wait, queued, until it has one
    (`held_for_address`); its transactional emails go out. An email giving a coupon code
    its shop does not know yet (`pending`, docs/platforms.md#coupon-codes-in-the-shop)
    is not due until the shop sync has created it."""
    due = Message.objects.filter(
        free_at(now),
        status=MessageStatus.QUEUED,
        send_after__lte=now,
    )
    if store is not None:
        due = due.filter(store=store)
    if store is None:
        held = stores_without_address()
    else:
        held = [] if store.physical_address else [store.pk]
    if held:
        due = due.exclude(template_id__in=_marketing_templates(held))
    # A subquery, not a join: the claim locks these rows FOR UPDATE on PostgreSQL.
    due = due.exclude(coupon_id__in=pending_shop_coupons(store=store).values("pk"))
    return due.order_by("send_after", "id")


def stores_without_address() -> list[int]:
    """The ids of the stores that have no postal address yet (one small query)."""
    return list(Store.objects.filter(physical_address="").values_list("pk", flat=True))


def _marketing_templates(store_ids: list[int]) -> QuerySet[EmailTemplate, Any]:
    templates = EmailTemplate.objects.filter(store_id__in=store_ids)
    return templates.exclude(kind=TemplateKind.ORDER_CONFIRMATION).values("pk")


def stores_holding_for_address() -> list[tuple[Store, int]]:
    """The stores without a postal address that have marketing emails waiting for one,
    with how many."""
    stores = Store.objects.filter(physical_address="").order_by("slug")
    counted = ((store, held_for_address(store=store)) for store in stores)
    return [(store, count) for store, count in counted if count]


def held_for_address(*, store: Store) -> int:
    """How many of `store`'s queued marketing emails wait for it to have a postal
    address (0 when it has one)."""
    if store.physical_address:
        return 0
    queued = Message.objects.filter(store=store, status=MessageStatus.QUEUED)
    return queued.filter(template_id__in=_marketing_templates([store.pk])).count()


def template_by_slug(*, store: Store, slug: str) -> EmailTemplate | None:
    """The store's template `slug`, or None."""
    return EmailTemplate.objects.filter(store=store, slug=slug).first()


def store_templates(*, store: Store) -> QuerySet[EmailTemplate]:
    """The store's templates by slug."""
    return EmailTemplate.objects.filter(store=store).order_by("slug")


def suppression_reason(*, store: Store | int, email: str) -> str | None:
    """Why the store may not email `email` any more (a SuppressionReason value), or None
    when it may. One indexed query."""
    store_id = store if isinstance(store, int) else store.pk
    rows = Suppression.objects.filter(store_id=store_id, email=suppression_key(email))
    return rows.values_list("reason", flat=True).first()


def last_marketing_email_at(
    *, customer_id: int, since: dt.datetime, until: dt.datetime
) -> dt.datetime | None:
    """When the customer was last sent, or queued, a marketing email (anything but an
    order confirmation) in (`since`, `until`], across every flow; None when never."""
    return (
        Message.objects.filter(
            customer_id=customer_id,
            status__in=(MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED),
            queued_at__gt=since,
            queued_at__lte=until,
        )
        .exclude(template__kind=TemplateKind.ORDER_CONFIRMATION)
        .order_by("-queued_at")
        .values_list("queued_at", flat=True)
        .first()
    )


def marketing_emailed(
    *, customer_ids: Sequence[int], since: dt.datetime, until: dt.datetime
) -> set[int]:
    """Those of `customer_ids` who were sent, or queued, a marketing email in (`since`,
    `until`] (last_marketing_email_at for a whole batch): one query."""
    if not customer_ids:
        return set()
    return set(
        Message.objects.filter(
            bulk.id_in("customer_id", customer_ids),
            status__in=(MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED),
            queued_at__gt=since,
            queued_at__lte=until,
        )
        .exclude(template__kind=TemplateKind.ORDER_CONFIRMATION)
        .values_list("customer_id", flat=True)
        .distinct()
    )


def recommendations_offered(*, enrollment_id: int, coupon_id: int) -> list[Any] | None:
    """The products shown with coupon `coupon_id` in an email of journey `enrollment_id`
    (what a reminder reminds of), or None when no such email was queued."""
    return (
        Message.objects.filter(enrollment_id=enrollment_id, coupon_id=coupon_id)
        .values_list("recommendations", flat=True)
        .first()
    )


def recommendations_offered_many(
    *, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], list[Any]]:
    """recommendations_offered for many (enrollment id, coupon id) `pairs`: each pair
    with an email of that journey carrying that coupon -> the products shown in the
    first such email (the lowest id, as .first() takes it); pairs without one are left
    out. One query, by the journeys' ids."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = (
        Message.objects.filter(
            bulk.id_in("enrollment_id", {enrollment for enrollment, _ in wanted}),
            coupon_id__isnull=False,
        )
        .order_by("pk")
        .values_list("enrollment_id", "coupon_id", "recommendations")
    )
    offered: dict[tuple[int, int], list[Any]] = {}
    for enrollment_id, coupon_id, recommendations in rows:
        if (enrollment_id, coupon_id) in wanted:
            offered.setdefault((enrollment_id, coupon_id), recommendations)
    return offered


def next_send_at(*, flow_id: int) -> dt.datetime | None:
    """The earliest moment a queued email of flow `flow_id` may go out, or None."""
    queued = Message.objects.filter(flow_id=flow_id, status=MessageStatus.QUEUED)
    return queued.aggregate(at=Min("send_after"))["at"]


def suppression_key(email: str) -> str:
    """The spelling of `email` the suppression list is keyed by, whichever customer row
    carries the address."""
    return email.strip().lower()


def suppression_reasons(messages: list[Message]) -> dict[int, str]:
    """Message id -> why its recipient's address is suppressed, for those of `messages`
    whose address is: one query for the batch instead of one per message."""
    rows = Suppression.objects.filter(
        store_id__in={m.store_id for m in messages},
        email__in={suppression_key(m.to_email) for m in messages},
    ).values_list("store_id", "email", "reason")
    reasons = {(store_id, email): reason for store_id, email, reason in rows}
    return {
        m.pk: reason
        for m in messages
        if (reason := reasons.get((m.store_id, suppression_key(m.to_email))))
    }


def customer_messages(*, customer_id: int) -> QuerySet[Message]:
    """Every email to the customer, oldest first, with its template loaded."""
    return (
        Message.objects.filter(customer_id=customer_id)
        .select_related("template")
        .order_by("queued_at", "pk")
    )
