"""Which orders start a flow: the trigger event, its filters and the re-entry rule."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Max, Min

from aftersale.customers.segments import parse_segment
from aftersale.flows.definition import FlowDefinition, Trigger
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.orders.models import LineItem, Order, OrderStatus

NOT_PURCHASES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


def triggering_orders(
    *, flow: Flow, definition: FlowDefinition, orders: Sequence[Order], now: dt.datetime
) -> list[tuple[Order, dt.datetime]]:
    """The orders among `orders` that start `flow` now, each with the moment its trigger
    event happened; at most one per customer, and only customers the re-entry rule and
    the trigger's filters let in."""
    trigger = definition.trigger
    timed = [(o, at) for o in orders if (at := event_moment(trigger, o)) and at <= now]
    timed = [
        (o, at)
        for o, at in timed
        if o.customer.can_receive_marketing and o.total >= trigger.min_order_total
    ]
    if trigger.categories or trigger.products:
        timed = _with_products(trigger, timed)
    timed = _not_yet_triggered(flow, timed)
    timed = _allowed_to_enter(flow, trigger, timed)
    if trigger.event == "first_purchase":
        timed = _first_purchases(timed)
    if trigger.segment is not None:
        timed = _in_segment(trigger, timed, now)
    chosen: dict[int, tuple[Order, dt.datetime]] = {}
    for order, at in timed:
        chosen.setdefault(order.customer_id, (order, at))
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
        "order_id", "product__category", "product__external_id"
    )
    contents: dict[int, set[str]] = defaultdict(set)
    for order_id, category, external_id in lines:
        contents[order_id] |= {f"c:{category}", f"p:{external_id}"}
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


def _allowed_to_enter(
    flow: Flow, trigger: Trigger, timed: list[tuple[Order, dt.datetime]]
) -> list[tuple[Order, dt.datetime]]:
    """Nobody enters while already in the flow; `once` lets nobody back, `every` only
    after `days` days since their last entry."""
    history = dict(
        Enrollment.objects.filter(flow=flow, customer_id__in={o.customer_id for o, _ in timed})
        .values_list("customer_id")
        .annotate(last=Max("entered_at"))
    )
    active = set(
        Enrollment.objects.filter(
            flow=flow, state=EnrollmentState.ACTIVE, customer_id__in=history
        ).values_list("customer_id", flat=True)
    )
    gap = dt.timedelta(days=trigger.reentry.days)

    def may_enter(order: Order, at: dt.datetime) -> bool:
        last = history.get(order.customer_id)
        if last is None:
            return True
        if order.customer_id in active or trigger.reentry.mode == "once":
            return False
        return at - last >= gap

    return [(o, at) for o, at in timed if may_enter(o, at)]


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
    trigger: Trigger, timed: list[tuple[Order, dt.datetime]], now: dt.datetime
) -> list[tuple[Order, dt.datetime]]:
    from aftersale.customers.selectors import is_in_segment

    segment = parse_segment(trigger.segment)
    return [
        (o, at) for o, at in timed if is_in_segment(customer=o.customer, segment=segment, now=now)
    ]
