"""Triggers that are no order: events the store posts (a product view, a custom event) and
moments nobody reports, which the periodic pass finds with set-based queries (a checkout
left without an order, a birthday, the anniversary of the first order, a customer gone
quiet).

A timed occasion is picked up when it happened within the last CATCH_UP: a worker that
was down for a while catches up, while a flow set live today does not write to everyone
whose checkout was abandoned last year. Each occasion carries a key, so a pass run again
(or by two workers at once) enrolls nobody twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import operator
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import reduce
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.flows.definition import Trigger
from aftersale.flows.models import Enrollment, Flow
from aftersale.flows.timing import zone_named
from aftersale.flows.triggers import Entry
from aftersale.orders.models import NOT_PURCHASES, Checkout, CheckoutLine, Order
from aftersale.tracking.models import Event, EventKind

CATCH_UP = dt.timedelta(days=2)
# How many past years an anniversary looks back for the first order.
_ANNIVERSARY_YEARS = 30


def event_entries(*, trigger: Trigger, events: Sequence[Event], now: dt.datetime) -> list[Entry]:
    """The entries `events` make for a product_viewed or custom trigger, at the moment
    each happened (never later than `now`), before admission."""
    if trigger.event == "custom":
        matching = [
            e for e in events if e.kind == EventKind.CUSTOM and e.data.get("name") == trigger.name
        ]
    elif trigger.event == "product_viewed":
        matching = _viewed_wanted_products(trigger, events)
    else:
        return []
    return [
        Entry(customer_id=e.customer_id, at=min(e.occurred_at, now), key=f"event:{e.pk}")
        for e in matching
    ]


def timed_entries(*, flow: Flow, trigger: Trigger, now: dt.datetime) -> list[Entry]:
    """The occasions of a timed trigger that happened within CATCH_UP before `now` and
    have not started `flow` yet, before admission. A few queries per time zone, never a
    loop over the store's customers."""
    if trigger.event == "checkout_abandoned":
        return _abandoned_checkouts(flow, trigger, now)
    if trigger.event == "customer_dormant":
        return _dormant_customers(flow, trigger, now)
    if trigger.event == "birthday":
        return _birthdays(flow, trigger, now)
    if trigger.event == "first_order_anniversary":
        return _anniversaries(flow, trigger, now)
    return []


def _viewed_wanted_products(trigger: Trigger, events: Sequence[Event]) -> list[Event]:
    views = [e for e in events if e.kind == EventKind.PRODUCT_VIEWED]
    if not (trigger.products or trigger.categories):
        return views
    wanted = Product.objects.filter(
        Q(external_id__in=trigger.products) | Q(category__in=trigger.categories),
        pk__in={e.data.get("product_id") for e in views},
    )
    wanted_ids = set(wanted.values_list("pk", flat=True))
    return [e for e in views if e.data.get("product_id") in wanted_ids]


def _purchases(now: dt.datetime) -> QuerySet[Order]:
    return Order.objects.filter(placed_at__lte=now).exclude(status__in=NOT_PURCHASES)


def _abandoned_checkouts(flow: Flow, trigger: Trigger, now: dt.datetime) -> list[Entry]:
    """Checkouts started `abandoned_hours` ago (give or take CATCH_UP), not completed by
    now, and after which their customer has placed no order."""
    wait = dt.timedelta(hours=trigger.abandoned_hours)
    ordered_since = _purchases(now).filter(
        customer_id=OuterRef("customer_id"), placed_at__gte=OuterRef("started_at")
    )
    open_checkouts = (
        Checkout.objects.filter(
            store_id=flow.store_id,
            started_at__gt=now - wait - CATCH_UP,
            started_at__lte=now - wait,
            total__gte=trigger.min_order_total,
        )
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gt=now))
        .exclude(Exists(ordered_since))
        .exclude(Exists(Enrollment.objects.filter(flow=flow, trigger_checkout=OuterRef("pk"))))
    )
    if trigger.products or trigger.categories:
        open_checkouts = open_checkouts.filter(pk__in=checkouts_with_products(trigger=trigger))
    return [
        Entry(customer_id=customer_id, at=started + wait, checkout_id=pk, key=f"checkout:{pk}")
        for pk, customer_id, started in open_checkouts.values_list(
            "pk", "customer_id", "started_at"
        )
    ]


def checkouts_with_products(*, trigger: Trigger) -> QuerySet[CheckoutLine, int]:
    """The ids of checkouts holding one of the trigger's products or categories, as a
    subquery."""
    lines = CheckoutLine.objects.filter(
        Q(product__external_id__in=trigger.products) | Q(product__category__in=trigger.categories)
    )
    return lines.values_list("checkout_id", flat=True)


def _dormant_customers(flow: Flow, trigger: Trigger, now: dt.datetime) -> list[Entry]:
    """Customers whose last purchase was `dormant_days` ago (give or take CATCH_UP): the
    spell is keyed by that last order, which the journey keeps as its trigger order (its
    basket is what personal picks start from)."""
    quiet = dt.timedelta(days=trigger.dormant_days)
    later = (
        _purchases(now)
        .filter(customer_id=OuterRef("customer_id"))
        .filter(
            Q(placed_at__gt=OuterRef("placed_at"))
            | Q(placed_at=OuterRef("placed_at"), pk__gt=OuterRef("pk"))
        )
    )
    last_orders = (
        _purchases(now)
        .filter(
            store_id=flow.store_id,
            placed_at__gt=now - quiet - CATCH_UP,
            placed_at__lte=now - quiet,
        )
        .exclude(Exists(later))
    )
    return [
        Entry(customer_id=customer_id, at=placed + quiet, order_id=pk, key=f"dormant:{pk}")
        for pk, customer_id, placed in last_orders.values_list("pk", "customer_id", "placed_at")
    ]


def _birthdays(flow: Flow, trigger: Trigger, now: dt.datetime) -> list[Entry]:
    entries = []
    for _, names, day, moment in _local_occasions(flow, trigger, now):
        born = Customer.objects.filter(
            store_id=flow.store_id, time_zone__in=names, created_at__lte=now
        ).filter(_same_day("birthday", day))
        entries += [
            Entry(customer_id=pk, at=moment, key=f"birthday:{day.year}")
            for pk in born.values_list("pk", flat=True)
        ]
    return entries


def _anniversaries(flow: Flow, trigger: Trigger, now: dt.datetime) -> list[Entry]:
    """Customers whose first purchase was on this local day of an earlier year: found by
    (store, placed_at) ranges, one per past year, so the index serves them."""
    entries = []
    for zone, names, day, moment in _local_occasions(flow, trigger, now):
        earlier = _purchases(now).filter(
            customer_id=OuterRef("customer_id"), placed_at__lt=OuterRef("placed_at")
        )
        firsts = (
            _purchases(now)
            .filter(_on_days_of_past_years(day, zone), store_id=flow.store_id)
            .filter(customer__time_zone__in=names)
            .exclude(Exists(earlier))
        )
        entries += [
            Entry(customer_id=pk, at=moment, key=f"anniversary:{day.year}")
            for pk in set(firsts.values_list("customer_id", flat=True))
        ]
    return entries


def _local_occasions(
    flow: Flow, trigger: Trigger, now: dt.datetime
) -> Iterator[tuple[ZoneInfo, list[str], dt.date, dt.datetime]]:
    """For each time zone the store's customers live in (the names that mean it), each
    local day whose `local_hour` fell within CATCH_UP before `now`, with that moment."""
    for zone, names in _zones_of_customers(flow).items():
        local_today = now.astimezone(zone).date()
        for back in range(CATCH_UP.days + 1):
            day = local_today - dt.timedelta(days=back)
            moment = dt.datetime.combine(day, dt.time(trigger.local_hour), tzinfo=zone)
            if now - CATCH_UP < moment <= now:
                yield zone, names, day, moment.astimezone(dt.UTC)


def _zones_of_customers(flow: Flow) -> dict[ZoneInfo, list[str]]:
    """The store's customers' time zones, each with the names customers gave for it (an
    empty or unknown name means the store's zone)."""
    names = Customer.objects.filter(store_id=flow.store_id).values_list("time_zone", flat=True)
    zones: dict[ZoneInfo, list[str]] = defaultdict(list)
    for name in names.distinct().order_by():
        zones[zone_named(name, fallback=flow.store.time_zone)].append(name)
    return zones


def _same_day(field: str, day: dt.date) -> Q:
    """`field` (a date) falls on `day`'s month and day of any year."""
    return reduce(
        operator.or_,
        [
            Q(**{f"{field}__month": month, f"{field}__day": mday})
            for month, mday in _month_days(day)
        ],
    )


def _on_days_of_past_years(day: dt.date, zone: ZoneInfo) -> Q:
    ranges = Q()
    for years_ago in range(1, _ANNIVERSARY_YEARS + 1):
        for month, mday in _month_days(day):
            try:
                past = dt.date(day.year - years_ago, month, mday)
            except ValueError:  # 29 February of a year without one
                continue
            start = dt.datetime.combine(past, dt.time(0), tzinfo=zone)
            ranges |= Q(placed_at__gte=start, placed_at__lt=start + dt.timedelta(days=1))
    return ranges


def _month_days(day: dt.date) -> list[tuple[int, int]]:
    """The (month, day) pairs celebrated on `day`: on 28 February of a year without a
    29th, those of the 29th too."""
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        return [(2, 28), (2, 29)]
    return [(day.month, day.day)]
