"""Stores whose store-level report is known: a hand-computed dozen customers, and
generated histories of other shapes (tiny, sparse, other years, many orders)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.models import Order, OrderStatus
from aftersale.orders.records import OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

# The hand-computed store's "now": Saturday 15 March 2025, 12:00 UTC (13:00 in Paris).
NOW = dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC)
UTC = dt.UTC


def _at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


# (customer, placed at (UTC), total, currency, status): the store is in Europe/Paris and
# keeps its books in EUR. Months below are Paris months.
HAND_ORDERS: list[tuple[str, dt.datetime, str, str, str]] = [
    # January 2024: c1 comes back after 30 days, c2 never (its cancelled order is no
    # purchase), c3 after 371 days (a repeater, but not within the year: month 12).
    ("c1", _at(2024, 1, 10), "100.00", "EUR", "placed"),
    ("c1", _at(2024, 2, 9), "50.00", "EUR", "placed"),
    ("c2", _at(2024, 1, 20), "80.00", "EUR", "placed"),
    ("c2", _at(2024, 1, 25), "500.00", "EUR", "cancelled"),
    ("c3", _at(2024, 1, 5), "60.00", "EUR", "placed"),
    ("c3", _at(2025, 1, 10), "40.00", "EUR", "placed"),
    # February 2024: c4's first order was cancelled, its first purchase is 31 January
    # 23:30 UTC, already 1 February in Paris; back 11 days later. c5 first pays in GBP,
    # then in EUR 29 days later. c6's later order was refunded: no repeat.
    ("c4", _at(2024, 1, 2), "30.00", "EUR", "cancelled"),
    ("c4", _at(2024, 1, 31, 23, 30), "70.00", "EUR", "placed"),
    ("c4", _at(2024, 2, 11, 23, 30), "30.00", "EUR", "placed"),
    ("c5", _at(2024, 2, 15), "90.00", "GBP", "placed"),
    ("c5", _at(2024, 3, 15), "10.00", "EUR", "placed"),
    ("c6", _at(2024, 2, 20), "200.00", "EUR", "placed"),
    ("c6", _at(2024, 3, 1), "100.00", "EUR", "refunded"),
    # March 2024: c7 back after 2 days and again in June (month 3); c8's first order is
    # less than a year before now (maturing), and its order after now is not seen.
    ("c7", _at(2024, 3, 10), "120.00", "EUR", "placed"),
    ("c7", _at(2024, 3, 12), "30.00", "EUR", "placed"),
    ("c7", _at(2024, 6, 10), "45.00", "EUR", "placed"),
    ("c8", _at(2024, 3, 25), "75.00", "EUR", "placed"),
    ("c8", _at(2025, 4, 1), "999.00", "EUR", "placed"),
    # April 2024: c12 buys at 23:30 on 30 April in Paris and again an hour later, on
    # 1 May (month 1).
    ("c12", _at(2024, 4, 30, 21, 30), "35.00", "EUR", "placed"),
    ("c12", _at(2024, 4, 30, 22, 30), "15.00", "EUR", "placed"),
    # January 2025: c9 in GBP, back after 30 days; c10 once.
    ("c9", _at(2025, 1, 5), "40.00", "GBP", "placed"),
    ("c9", _at(2025, 2, 4), "20.00", "GBP", "placed"),
    ("c10", _at(2025, 1, 20), "55.00", "EUR", "placed"),
    # March 2025, the month of now: no month of it has ended.
    ("c11", _at(2025, 3, 10), "65.00", "EUR", "placed"),
]

# What the report must say of it, worked out by hand (see the comments above).
# Measurable (first order on or before 15 March 2024 12:00 UTC): c1 c2 c3 c4 c5 c6 c7;
# of them back within 365 days: c1 c4 c5 c7. Days to the second order: c12 1/24, c7 2,
# c4 11, c5 29, c1 30, c9 30, c3 371: the median is 29.
HAND_EXPECTED: dict[str, object] = {
    "customers": 12,
    "repeat_customers": 7,
    "measurable": 7,
    "maturing": 5,
    "repeated_within_12_months": 4,
    "repeat_rate_pct": 57.1,
    "benchmark_pct": 32.0,
    "median_days_to_second_order": 29.0,
    "currencies": ["EUR", "GBP"],
}
HAND_COHORTS: list[dict[str, object]] = [
    {
        "month": "2024-01",
        "customers": 3,
        "repeat_customers": 2,
        "measurable": 3,
        "repeated_within_12_months": 1,
        "repeat_rate_pct": 33.3,
        "months_elapsed": 13,
        # 240 in month 0, +50 in month 1, +40 in month 12; over 3 customers
        "revenue_per_customer": {"EUR": [80.0] + [96.67] * 11 + [110.0]},
    },
    {
        "month": "2024-02",
        "customers": 3,
        "repeat_customers": 2,
        "measurable": 3,
        "repeated_within_12_months": 2,
        "repeat_rate_pct": 66.7,
        "months_elapsed": 13,
        # EUR: 70 + 30 + 200 in month 0, +10 in month 1; GBP: 90 in month 0
        "revenue_per_customer": {"EUR": [100.0] + [103.33] * 12, "GBP": [30.0] * 13},
    },
    {
        "month": "2024-03",
        "customers": 2,
        "repeat_customers": 1,
        "measurable": 1,
        "repeated_within_12_months": 1,
        "repeat_rate_pct": 100.0,
        "months_elapsed": 12,
        # 120 + 30 + 75 in month 0, +45 in month 3 (June); March 2025 has not ended
        "revenue_per_customer": {"EUR": [112.5] * 3 + [135.0] * 9},
    },
    {
        "month": "2024-04",
        "customers": 1,
        "repeat_customers": 1,
        "measurable": 0,
        "repeated_within_12_months": 0,
        "repeat_rate_pct": None,
        "months_elapsed": 11,
        "revenue_per_customer": {"EUR": [35.0] + [50.0] * 10},
    },
    {
        "month": "2025-01",
        "customers": 2,
        "repeat_customers": 1,
        "measurable": 0,
        "repeated_within_12_months": 0,
        "repeat_rate_pct": None,
        "months_elapsed": 2,
        "revenue_per_customer": {"EUR": [27.5, 27.5], "GBP": [20.0, 30.0]},
    },
    {
        "month": "2025-03",
        "customers": 1,
        "repeat_customers": 0,
        "measurable": 0,
        "repeated_within_12_months": 0,
        "repeat_rate_pct": None,
        "months_elapsed": 0,
        "revenue_per_customer": {"EUR": []},
    },
]


def hand_computed_store(slug: str = "paris-shop") -> Store:
    """The store of HAND_ORDERS, in Europe/Paris with EUR books."""
    store = create_store(
        name="Paris Shop",
        slug=slug,
        now=_at(2023, 12, 1),
        currency="EUR",
        time_zone="Europe/Paris",
        physical_address="2 Rue de Rivoli, 75001 Paris, France",
    )
    for n, (customer, at, total, currency, status) in enumerate(HAND_ORDERS):
        record = OrderRecord(
            external_id=f"o{n}",
            customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
            placed_at=at,
            total=Decimal(total),
            currency=currency,
            cancelled_at=at if status == "cancelled" else None,
            refunded_at=at + dt.timedelta(days=3) if status == "refunded" else None,
        )
        ingest_orders(store=store, records=[record], now=at)
    return store


def generated_store(
    *,
    slug: str,
    customers: int,
    start: dt.datetime,
    days: int,
    seed: int,
    repeat: float = 0.3,
    orders_per_repeater: int = 3,
    currencies: tuple[str, ...] = ("USD",),
    time_zone: str = "UTC",
) -> Store:
    """A store of `customers` first orders spread over `days` from `start`, a share
    `repeat` of them buying up to `orders_per_repeater` more times, now and then in
    another of `currencies`, one order in twenty cancelled or refunded. Rows are
    bulk-inserted (no line items): the report reads only orders."""
    rng = random.Random(seed)
    store = create_store(
        name=slug, slug=slug, now=start, currency=currencies[0], time_zone=time_zone
    )
    people = Customer.objects.bulk_create(
        [
            Customer(store=store, external_id=f"c{i}", email=f"c{i}@example.com", created_at=start)
            for i in range(customers)
        ],
        batch_size=5000,
    )
    orders: list[Order] = []
    for person in people:
        at = start + dt.timedelta(seconds=rng.randrange(days * 86400))
        count = 1 + (rng.randrange(1, orders_per_repeater + 1) if rng.random() < repeat else 0)
        for _ in range(count):
            odd = rng.random()
            status = (
                OrderStatus.CANCELLED
                if odd < 0.03
                else OrderStatus.REFUNDED
                if odd < 0.05
                else OrderStatus.PLACED
            )
            orders.append(
                Order(
                    store=store,
                    external_id=f"o{len(orders)}",
                    customer=person,
                    status=status,
                    currency=currencies[0] if rng.random() < 0.8 else rng.choice(currencies),
                    total=Decimal(rng.randrange(500, 20000)) / 100,
                    placed_at=at,
                )
            )
            at += dt.timedelta(seconds=rng.randrange(3600, 400 * 86400))
        if len(orders) >= 20000:
            Order.objects.bulk_create(orders, batch_size=5000)
            orders = []
    Order.objects.bulk_create(orders, batch_size=5000)
    return store
