"""Deciding branches: split conditions and A/B variant assignment."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db.models import Q

from aftersale.coupons.models import Coupon
from aftersale.flows.definition import (
    ABSplitStep,
    Condition,
    FlowDefinition,
    MessageCondition,
    OrderValueCondition,
    PurchasedCondition,
    SegmentCondition,
    Trigger,
)
from aftersale.flows.models import Enrollment
from aftersale.flows.occasions import checkouts_with_products
from aftersale.flows.selectors import coupon_program_ids, definition_of
from aftersale.orders.models import NOT_PURCHASES, Checkout, Order
from aftersale.segments.definition import parse_segment
from aftersale.segments.selectors import is_in_segment
from aftersale.tracking.models import Event


def condition_holds(
    *,
    condition: Condition,
    enrollment: Enrollment,
    definition: FlowDefinition,
    now: dt.datetime,
) -> bool:
    """Whether `condition` is true for `enrollment` at `now`."""
    if isinstance(condition, MessageCondition):
        return _message_event(condition, enrollment, definition)
    if isinstance(condition, PurchasedCondition):
        if condition.kind == "purchased_since_entry":
            return purchased_since_entry(enrollment=enrollment, now=now)
        return _used_coupon(enrollment)
    if isinstance(condition, SegmentCondition):
        return is_in_segment(
            customer=enrollment.customer, segment=parse_segment(condition.segment), now=now
        )
    return _order_value_within(condition, enrollment)


def purchased_since_entry(*, enrollment: Enrollment, now: dt.datetime) -> bool:
    """Whether the customer placed an order (not cancelled or refunded) after entering."""
    later = Order.objects.filter(
        customer_id=enrollment.customer_id,
        placed_at__gt=enrollment.entered_at,
        placed_at__lte=now,
    ).exclude(status__in=NOT_PURCHASES)
    if enrollment.trigger_order_id is not None:
        later = later.exclude(pk=enrollment.trigger_order_id)
    return later.exists()


def unmet_filter(*, enrollment: Enrollment, trigger: Trigger, now: dt.datetime) -> str:
    """The exit reason when `enrollment` no longer passes the flow's trigger filters at
    `now` ("" while it does): `left_segment`, or for a journey started by a checkout
    the store has since changed, `checkout_below_min_total` / `checkout_without_products`.
    An order's total and products never change, so they need no second look."""
    if trigger.segment is not None and not is_in_segment(
        customer=enrollment.customer, segment=parse_segment(trigger.segment), now=now
    ):
        return "left_segment"
    if enrollment.trigger_checkout_id is None:
        return ""
    checkout = Checkout.objects.filter(pk=enrollment.trigger_checkout_id)
    if not checkout.filter(total__gte=trigger.min_order_total).exists():
        return "checkout_below_min_total"
    if (trigger.products or trigger.categories) and not checkout.filter(
        pk__in=checkouts_with_products(trigger=trigger)
    ).exists():
        return "checkout_without_products"
    return ""


def ab_variant(*, step: ABSplitStep, enrollment: Enrollment, index: int) -> int:
    """The variant `enrollment` takes at A/B step `index`: random in proportion to the
    weights, yet the same every time it is asked (a retried step never switches)."""
    digest = hashlib.blake2b(f"{enrollment.pk}:{index}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % sum(v.weight for v in step.variants)
    for number, variant in enumerate(step.variants):
        if point < variant.weight:
            return number
        point -= variant.weight
    raise AssertionError("weights cover the whole range")


def _message_event(
    condition: MessageCondition, enrollment: Enrollment, definition: FlowDefinition
) -> bool:
    events = Event.objects.filter(message__enrollment=enrollment, kind=condition.kind)
    if condition.step:
        events = events.filter(message__step_index=definition.index_of(condition.step, after=0))
    # Opens by privacy proxies and prefetchers are not a person reading. (Not an exclude:
    # a missing JSON key compares as NULL, and NOT NULL would drop every human event.)
    return events.filter(Q(data__machine__isnull=True) | Q(data__machine=False)).exists()


def _used_coupon(enrollment: Enrollment) -> bool:
    definition = definition_of(enrollment.version_id)
    programs = coupon_program_ids(flow=enrollment.flow, definition=definition)
    return Coupon.objects.filter(
        program_id__in=programs,
        customer_id=enrollment.customer_id,
        issued_at__gte=enrollment.entered_at,
        redeemed_at__isnull=False,
        redeemed_by_other=False,  # someone else's use is not the recipient's
    ).exists()


def _order_value_within(condition: OrderValueCondition, enrollment: Enrollment) -> bool:
    order = enrollment.trigger_order
    if order is None:
        return False
    low_ok = condition.min is None or order.total >= condition.min
    return low_ok and (condition.max is None or order.total <= condition.max)
