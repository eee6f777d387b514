"""Crediting orders to the email that earned them: a code the email carried, else the
last email clicked within the store's click window, else the last one read (a person's
open, never a machine's) within its open window."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from aftersale.attribution.models import AttributedVia, Attribution
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind

_BATCH = 500
_HUMAN_OPEN = "open"  # tracking's once-key of a person's open ("open:machine" is none)
_EMAIL = ("id", "flow_id", "step_index", "enrollment_id")


@dataclass(frozen=True)
class _Touch:
    """An email of the customer's that may earn an order: its message and when."""

    via: AttributedVia
    at: dt.datetime
    message: dict[str, Any]


def attribute_orders(*, store: Store, order_ids: Sequence[int]) -> int:
    """Credit each of `store`'s orders `order_ids` to the email that earned it, replacing
    what it was credited to before (an order no email earned has no attribution): the
    latest email carrying a code the order used, queued before the order, whatever the
    window; else the last email its customer clicked within `attribution_click_days`
    before the order; else the last one a person read within `attribution_open_days`.
    Returns how many of the orders are credited to an email. A few queries per 500
    orders."""
    if not Message.objects.filter(store=store).exists():
        # No email was ever queued: none earned these orders (a history import's case),
        # and no attribution can name one.
        return 0
    credited = 0
    for low in range(0, len(order_ids), _BATCH):
        with transaction.atomic():
            credited += _attribute_batch(store, list(order_ids[low : low + _BATCH]))
    return credited


def on_engagement_recorded(
    *, store_id: int, customer_id: int, occurred_at: dt.datetime, **_: Any
) -> None:
    """tracking's engagement_recorded signal: a read or a click recorded after orders it
    may have earned (a late webhook) credits them anew."""
    store = Store.objects.get(pk=store_id)
    window = dt.timedelta(days=max(store.attribution_click_days, store.attribution_open_days))
    later = Order.objects.filter(
        customer_id=customer_id, placed_at__gte=occurred_at, placed_at__lte=occurred_at + window
    ).values_list("pk", flat=True)
    if later:
        attribute_orders(store=store, order_ids=list(later))


def _attribute_batch(store: Store, order_ids: list[int]) -> int:
    orders = list(
        Order.objects.filter(store=store, pk__in=order_ids).values(
            "pk", "customer_id", "placed_at", "discount_codes"
        )
    )
    Attribution.objects.filter(order_id__in=order_ids).delete()
    if not orders:
        return 0
    by_code = _coupon_emails(store, orders)
    touches = _touches(store, orders)
    rows = []
    for order in orders:
        touch = _coupon_touch(order, by_code) or _last_touch(store, order, touches)
        if touch is not None:
            rows.append(
                Attribution(
                    order_id=order["pk"],
                    store=store,
                    message_id=touch.message["id"],
                    flow_id=touch.message["flow_id"],
                    enrollment_id=touch.message["enrollment_id"],
                    step_index=touch.message["step_index"],
                    via=touch.via,
                    touched_at=touch.at,
                )
            )
    Attribution.objects.bulk_create(rows)
    return len(rows)


def _codes(order: Mapping[str, Any]) -> set[str]:
    codes = order["discount_codes"] if isinstance(order["discount_codes"], list) else []
    return {str(code).strip().upper() for code in codes if str(code).strip()}


def _coupon_emails(store: Store, orders: Iterable[Mapping[str, Any]]) -> dict[str, list[_Touch]]:
    """The emails that carried each code these orders used, by code, latest first."""
    codes = set().union(*(_codes(order) for order in orders))
    if not codes:
        return {}
    carried: dict[str, list[_Touch]] = defaultdict(list)
    for message in (
        Message.objects.filter(store=store, coupon__code__in=codes)
        .order_by("-queued_at", "-pk")
        .values(*_EMAIL, "queued_at", "coupon__code")
    ):
        touch = _Touch(via=AttributedVia.COUPON, at=message["queued_at"], message=message)
        carried[message["coupon__code"]].append(touch)
    return carried


def _coupon_touch(order: Mapping[str, Any], by_code: dict[str, list[_Touch]]) -> _Touch | None:
    before = [
        touch
        for code in _codes(order)
        for touch in by_code.get(code, ())
        if touch.at <= order["placed_at"]
    ]
    return max(before, key=lambda touch: (touch.at, touch.message["id"]), default=None)


def _touches(store: Store, orders: Sequence[Mapping[str, Any]]) -> dict[int, list[_Touch]]:
    """The clicks and a person's reads of emails by these orders' customers that fall
    in any of their windows, by customer: one query over the events' customer index."""
    window = dt.timedelta(days=max(store.attribution_click_days, store.attribution_open_days))
    events = (
        Event.objects.filter(
            Q(kind=EventKind.CLICKED) | Q(kind=EventKind.OPENED, once_key=_HUMAN_OPEN),
            store=store,
            customer_id__in={order["customer_id"] for order in orders},
            message__isnull=False,
            occurred_at__gte=min(order["placed_at"] for order in orders) - window,
            occurred_at__lte=max(order["placed_at"] for order in orders),
        )
        .order_by()
        .values("customer_id", "kind", "occurred_at", *(f"message__{f}" for f in _EMAIL))
    )
    touches: dict[int, list[_Touch]] = defaultdict(list)
    for event in events:
        via = AttributedVia.CLICK if event["kind"] == EventKind.CLICKED else AttributedVia.OPEN
        message = {f: event[f"message__{f}"] for f in _EMAIL}
        touches[event["customer_id"]].append(
            _Touch(via=via, at=event["occurred_at"], message=message)
        )
    return touches


def _last_touch(
    store: Store, order: Mapping[str, Any], touches: dict[int, list[_Touch]]
) -> _Touch | None:
    placed = order["placed_at"]
    windows = (
        (AttributedVia.CLICK, store.attribution_click_days),
        (AttributedVia.OPEN, store.attribution_open_days),
    )
    for via, days in windows:
        start = placed - dt.timedelta(days=days)
        within = [
            touch
            for touch in touches.get(order["customer_id"], ())
            if touch.via == via and start <= touch.at <= placed and days > 0
        ]
        if within:
            return max(within, key=lambda touch: (touch.at, touch.message["id"]))
    return None
