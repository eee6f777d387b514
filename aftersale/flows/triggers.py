"""What starts a flow: the trigger event, its filters and the re-entry rule.

Every trigger turns what happened (an order, a posted event, a moment the periodic pass
finds) into `Entry`s; `admit` then applies what all triggers share: consent, each
occasion once, the re-entry rule, the segment, and one entry per customer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Max, Min

from aftersale.customers.models import Customer
from aftersale.flows.definition import ORDER_EVENTS, FlowDefinition, Trigger
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.orders.models import NOT_PURCHASES, LineItem, Order
from aftersale.segments.definition import parse_segment
from aftersale.segments.selectors import customers_in_segment


@dataclass(frozen=True)
class Entry:
    """A customer about to enter a flow at `at`, and what started it: an order, a
    checkout and/or an occasion `key` (an occasion starts a flow at most once)."""

    customer_id: int
    at: dt.datetime
    order_id: int | None = None
    checkout_id: int | None = None
    key: str = ""


def triggering_orders(
    *, flow: Flow, definition: FlowDefinition, orders: Sequence[Order], now: dt.datetime
) -> list[Entry]:
    """The orders among `orders` that start `flow` now, as entries at the moment their
    trigger event happened; at most one per customer, and only customers the re-entry
    rule and the trigger's filters let in. Flows started by anything but orders: none."""
    trigger = definition.trigger
    if trigger.event not in ORDER_EVENTS:
        return []
    timed = [(o, at) for o in orders if (at := event_moment(trigger, o)) and at <= now]
    timed = [(o, at) for o, at in timed if o.total >= trigger.min_order_total]
    if trigger.categories or trigger.products:
        timed = _with_products(trigger, timed)
    timed = _not_yet_triggered(flow, timed)
    if trigger.event == "first_purchase":
        timed = _first_purchases(timed)
    entries = [Entry(customer_id=o.customer_id, at=at, order_id=o.pk) for o, at in timed]
    return admit(flow=flow, trigger=trigger, entries=entries, now=now)


def admit(
    *, flow: Flow, trigger: Trigger, entries: Sequence[Entry], now: dt.datetime
) -> list[Entry]:
    """The entries that may start `flow`: customers who accept marketing, occasions not
    seen before, customers the re-entry rule lets in and who are in the trigger's
    segment at `now`; the earliest one per customer. A few queries, however many."""
    entries = _accepting_marketing(entries)
    entries = _new_occasions(flow, entries)
    entries = _allowed_to_enter(flow, trigger, entries)
    if trigger.segment is not None:
        entries = _in_segment(flow, trigger, entries, now)
    chosen: dict[int, Entry] = {}
    for entry in sorted(entries, key=lambda e: (e.at, e.key, e.order_id or 0)):
        chosen.setdefault(entry.customer_id, entry)
    return list(chosen.values())


def event_moment(trigger: Trigger, order: Order) -> dt.datetime | None:
    """When `order` did what the trigger listens for (None: it has not, or it no longer
    counts as a purchase)."""
    if order.status in NOT_PURCHASES:
        return None
    if trigger.event == "order_fulfilled":
        return order.fulfilled_at
    if trigger.event == "order_delivered":
        return order.delivered_at
    return order.placed_at


def _with_products(
    trigger: Trigger, timed: list[tuple[Order, dt.datetime]]
) -> list[tuple[Order, dt.datetime]]:
    lines = LineItem.objects.filter(order_id__in=[o.pk for o, _ in timed]).values_list(
        "order_id", "product__category", "product__external_id", "sku"
    )
    contents: dict[int, set[str]] = defaultdict(set)
    # A product is named by its id or by the SKU of the variant bought (a trigger written
    # with the SKUs of an order export keeps working once the shop's catalog folds them
    # into its products: integrations.product_folds).
    for order_id, category, external_id, sku in lines:
        contents[order_id] |= {f"c:{category}", f"p:{external_id}", *([f"p:{sku}"] if sku else [])}
    wanted = {f"c:{c}" for c in trigger.categories} | {f"p:{p}" for p in trigger.products}
    return [(o, at) for o, at in timed if contents[o.pk] & wanted]


def _not_yet_triggered(
    flow: Flow, timed: list[tuple[Order, dt.datetime]]
) -> list[tuple[Order, dt.datetime]]:
    """An order starts a flow once, however often it is reported."""
    seen = set(
        Enrollment.objects.filter(
            flow=flow, trigger_order_id__in=[o.pk for o, _ in timed]
        ).values_list("trigger_order_id", flat=True)
    )
    return [(o, at) for o, at in timed if o.pk not in seen]


def _accepting_marketing(entries: Sequence[Entry]) -> list[Entry]:
    customer_ids = {e.customer_id for e in entries}
    if not customer_ids:
        return []
    accepting = set(
        Customer.objects.filter(
            pk__in=customer_ids, accepts_marketing=True, unsubscribed_at__isnull=True
        ).values_list("pk", flat=True)
    )
    return [e for e in entries if e.customer_id in accepting]


def _new_occasions(flow: Flow, entries: list[Entry]) -> list[Entry]:
    keys = {e.key for e in entries if e.key}
    if not keys:
        return entries
    seen = set(
        Enrollment.objects.filter(flow=flow, trigger_key__in=keys).values_list(
            "customer_id", "trigger_key"
        )
    )
    return [e for e in entries if (e.customer_id, e.key) not in seen]


def _allowed_to_enter(flow: Flow, trigger: Trigger, entries: list[Entry]) -> list[Entry]:
    """Nobody enters while already in the flow; `once` lets nobody back, `every` only
    after `days` days since their last entry."""
    history = dict(
        Enrollment.objects.filter(flow=flow, customer_id__in={e.customer_id for e in entries})
        .values_list("customer_id")
        .annotate(last=Max("entered_at"))
    )
    active = set(
        Enrollment.objects.filter(
            flow=flow, state=EnrollmentState.ACTIVE, customer_id__in=history
        ).values_list("customer_id", flat=True)
    )
    gap = dt.timedelta(days=trigger.reentry.days)

    def may_enter(entry: Entry) -> bool:
        last = history.get(entry.customer_id)
        if last is None:
            return True
        if entry.customer_id in active or trigger.reentry.mode == "once":
            return False
        return entry.at - last >= gap

    return [e for e in entries if may_enter(e)]


def _first_purchases(timed: list[tuple[Order, dt.datetime]]) -> list[tuple[Order, dt.datetime]]:
    if not timed:
        return timed
    first_order_at = dict(
        Order.objects.filter(customer_id__in={o.customer_id for o, _ in timed})
        .exclude(status__in=NOT_PURCHASES)
        .values_list("customer_id")
        .annotate(first=Min("placed_at"))
    )
    return [(o, at) for o, at in timed if o.placed_at == first_order_at.get(o.customer_id)]


def _in_segment(
    flow: Flow, trigger: Trigger, entries: list[Entry], now: dt.datetime
) -> list[Entry]:
    members = set(
        customers_in_segment(store=flow.store, segment=parse_segment(trigger.segment), now=now)
        .filter(pk__in={e.customer_id for e in entries})
        .values_list("pk", flat=True)
    )
    return [e for e in entries if e.customer_id in members]
