"""What a journey's customer had bought before entering: the covariates of the holdout
comparison (CUPED in reports.experiments), fixed once at entry.

For a journey that starts at `at`: the spend and the number of the customer's orders
placed in the BEFORE_ENTRY before `at` (the trigger order left out), and the trigger
order's value, counting only purchases (not cancelled, not refunded) in the store's
currency. Fixed at entry, they are pre-treatment by construction, and the report reads
them off the journey instead of searching every journey's order history again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aftersale.orders.models import NOT_PURCHASES, Order

BEFORE_ENTRY = dt.timedelta(days=90)
# Customers per query: well under SQLite's limit on a statement's parameters.
_CHUNK = 1000


@dataclass(frozen=True)
class Covariates:
    """A journey's pre-entry covariates (statistics, in the store's currency)."""

    spend_90d: float = 0.0
    orders_90d: int = 0
    trigger_value: float = 0.0


@dataclass(frozen=True)
class PastOrder:
    """An order as the covariates count it."""

    id: int
    placed_at: dt.datetime
    total: Decimal


def covariates_of(
    *, at: dt.datetime, trigger_order_id: int | None, orders: Iterable[PastOrder]
) -> Covariates:
    """The covariates of a journey entering at `at` (started by `trigger_order_id`, or
    by no order), given its customer's purchases in the store's currency (any others
    in `orders` are ignored by their dates)."""
    spend, count, trigger = Decimal(0), 0, Decimal(0)
    for order in orders:
        if not at - BEFORE_ENTRY <= order.placed_at <= at:
            continue
        if order.id == trigger_order_id:
            trigger = order.total
        elif order.placed_at < at:
            spend += order.total
            count += 1
    return Covariates(spend_90d=float(spend), orders_90d=count, trigger_value=float(trigger))


def covariates_at_entry(
    *, currency: str, entries: Sequence[tuple[int, dt.datetime, int | None]]
) -> list[Covariates]:
    """The covariates of each (customer id, entered at, trigger order id) of `entries`,
    in their order, for a store whose currency is `currency`: one query per thousand
    customers, reading only their orders between the earliest entry's BEFORE_ENTRY and
    the latest entry."""
    if not entries:
        return []
    first = min(at for _, at, _ in entries) - BEFORE_ENTRY
    last = max(at for _, at, _ in entries)
    customers = sorted({customer for customer, _, _ in entries})
    by_customer: dict[int, list[PastOrder]] = defaultdict(list)
    for start in range(0, len(customers), _CHUNK):
        rows = (
            Order.objects.filter(
                customer_id__in=customers[start : start + _CHUNK],
                placed_at__gte=first,
                placed_at__lte=last,
                currency=currency,
            )
            .exclude(status__in=NOT_PURCHASES)
            .values_list("customer_id", "pk", "placed_at", "total")
        )
        for customer, pk, placed_at, total in rows:
            by_customer[customer].append(PastOrder(pk, placed_at, total))
    return [
        covariates_of(at=at, trigger_order_id=order_id, orders=by_customer.get(customer, ()))
        for customer, at, order_id in entries
    ]
