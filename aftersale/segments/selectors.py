"""Reading customers: who is in a segment, as one SQL query per question.

Every condition becomes a boolean SQL expression (EXISTS, or IN over a ranking of the
store's buyers), never NULL, so `not` is always the exact complement within the store.
A purchase is an order placed by `now` that was not cancelled or refunded.
"""

import datetime as dt
import operator
from dataclasses import dataclass
from functools import reduce

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.expressions import RawSQL

from aftersale.customers.models import Customer
from aftersale.orders.models import NOT_PURCHASES, LineItem, Order
from aftersale.segments.definition import (
    AcceptsMarketing,
    All,
    AnyOf,
    Dormant,
    Engaged,
    FirstTime,
    HighSpender,
    Not,
    OrderValue,
    PurchasedCategory,
    Repeat,
    Rfm,
    Segment,
    Unsubscribed,
)
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.selectors import human_open_filter

_DAY = dt.timedelta(days=1)
# RFM scores split the buyers into fifths; top_percent compares in hundredths of a percent.
_SCORES = 5
_BASIS_POINTS = 10_000


@dataclass(frozen=True)
class _Scope:
    """Where and when a segment is evaluated; `customer_id` narrows store-wide subqueries
    to one customer when only that customer is asked about."""

    store_id: int
    now: dt.datetime
    customer_id: int | None = None


def customers_in_segment(*, store: Store, segment: Segment, now: dt.datetime) -> QuerySet[Customer]:
    """The store's customers in `segment` at `now`, as one lazy query (no Python loop);
    customers of other stores never appear."""
    scope = _Scope(store_id=store.pk, now=now)
    return Customer.objects.filter(store_id=store.pk).filter(_condition(segment, scope=scope))


def is_in_segment(*, customer: Customer, segment: Segment, now: dt.datetime) -> bool:
    """Whether `customer` is in `segment` at `now`: the same conditions as
    `customers_in_segment`, with the store-wide subqueries that can be narrowed to this
    customer narrowed (RFM and top_percent still rank the whole store)."""
    scope = _Scope(store_id=customer.store_id, now=now, customer_id=customer.pk)
    members = Customer.objects.filter(pk=customer.pk, store_id=customer.store_id)
    return members.filter(_condition(segment, scope=scope)).exists()


def segment_size(*, store: Store, segment: Segment, now: dt.datetime) -> int:
    """How many of the store's customers are in `segment` at `now`."""
    return customers_in_segment(store=store, segment=segment, now=now).count()


def _condition(segment: Segment, *, scope: _Scope) -> Q:
    match segment:
        case All(conditions=conditions):
            return reduce(operator.and_, [_condition(c, scope=scope) for c in conditions])
        case AnyOf(conditions=conditions):
            return reduce(operator.or_, [_condition(c, scope=scope) for c in conditions])
        case Not(condition=condition):
            return ~_condition(condition, scope=scope)
        case Unsubscribed():
            return Q(unsubscribed_at__lte=scope.now)
        case AcceptsMarketing():
            return Q(accepts_marketing=True) & ~Q(unsubscribed_at__lte=scope.now)
        case Engaged():
            return Q(Exists(_engagements(segment, now=scope.now)))
        case _:
            return _buying_condition(segment, scope=scope)


def _buying_condition(segment: Segment, *, scope: _Scope) -> Q:
    theirs = _their_purchases(now=scope.now)
    match segment:
        case FirstTime():
            # EXISTS with an offset reads at most two of the customer's orders.
            return Q(Exists(theirs)) & ~Q(Exists(theirs[1:2]))
        case Repeat(min_orders=min_orders):
            return Q(Exists(theirs[min_orders - 1 : min_orders]))
        case Dormant(days=days):
            # Recent buyers are few and found by the (store, placed_at) index, once.
            recent = _store_purchases(scope).filter(placed_at__gt=scope.now - days * _DAY)
            return Q(Exists(theirs)) & ~Q(pk__in=recent.values("customer_id"))
        case PurchasedCategory():
            return _bought_category(segment, scope=scope)
        case OrderValue():
            return _order_value(segment, now=scope.now)
        case HighSpender(top_percent=float() as top_percent):
            return _top_spenders(top_percent, scope=scope)
        case HighSpender(min_total=min_total):
            return _having(now=scope.now, test=Q(spent__gte=min_total), spent=Sum("total"))
        case Rfm():
            return _rfm(segment, scope=scope)
    raise TypeError(f"not a segment condition: {segment!r}")


def _purchases(*, now: dt.datetime) -> QuerySet[Order]:
    return Order.objects.filter(placed_at__lte=now).exclude(status__in=NOT_PURCHASES)


def _store_purchases(scope: _Scope) -> QuerySet[Order]:
    """The store's purchases, or only the one customer's when one is asked about."""
    purchases = _purchases(now=scope.now).filter(store_id=scope.store_id)
    if scope.customer_id is not None:
        return purchases.filter(customer_id=scope.customer_id)
    return purchases


def _their_purchases(*, now: dt.datetime) -> QuerySet[Order]:
    """The outer customer's purchases. The customer is already the store's, and naming the
    store again would lead SQLite (without statistics) to scan the store's orders by the
    (store, placed_at) index instead of seeking the customer's."""
    return _purchases(now=now).filter(customer_id=OuterRef("pk"))


def _having(*, now: dt.datetime, test: Q, **aggregates: Aggregate) -> Q:
    """EXISTS over the customer's purchases grouped into one row, with `test` as HAVING."""
    grouped = _their_purchases(now=now).values("customer_id").annotate(**aggregates)
    return Q(Exists(grouped.filter(test)))


def _engagements(segment: Engaged, *, now: dt.datetime) -> QuerySet[Event]:
    # Scoped through the customer, like _their_purchases, so the (customer, kind, time)
    # index serves it. An open flagged as a machine's (a privacy proxy fetching the
    # pixel) is no sign of a reader.
    actions = {"opened": human_open_filter(), "clicked": Q(kind=EventKind.CLICKED)}
    return Event.objects.filter(
        reduce(operator.or_, [actions[action] for action in segment.actions]),
        customer_id=OuterRef("pk"),
        occurred_at__gt=now - segment.days * _DAY,
        occurred_at__lte=now,
    )


def _bought_category(segment: PurchasedCategory, *, scope: _Scope) -> Q:
    """IN over the buyers of the category: found from its products' line items, where a
    per-customer test would read every line item of every customer. For one customer,
    that customer's line items are read instead."""
    lines = LineItem.objects.filter(
        product__store_id=scope.store_id,
        product__category=segment.category,
        order__placed_at__lte=scope.now,
    ).exclude(order__status__in=NOT_PURCHASES)
    if segment.days is not None:
        lines = lines.filter(order__placed_at__gt=scope.now - segment.days * _DAY)
    if scope.customer_id is not None:
        lines = lines.filter(order__customer_id=scope.customer_id)
    return Q(pk__in=lines.values("order__customer_id"))


def _order_value(segment: OrderValue, *, now: dt.datetime) -> Q:
    bounds = Q()
    if segment.min is not None:
        bounds &= Q(value__gte=segment.min)
    if segment.max is not None:
        bounds &= Q(value__lte=segment.max)
    if segment.measure == "average":
        return _having(now=now, test=bounds, value=Avg("total"))
    if segment.measure == "total":
        return _having(now=now, test=bounds, value=Sum("total"))
    latest = (
        _purchases(now=now)
        .filter(customer_id=OuterRef(OuterRef("pk")))
        .order_by("-placed_at", "-id")
        .values("id")[:1]
    )
    last_order = Order.objects.filter(pk=Subquery(latest)).annotate(value=F("total"))
    return Q(Exists(last_order.filter(bounds)))


def _buyers_sql(*, scope: _Scope) -> tuple[str, tuple[object, ...]]:
    """SQL for one row per buyer of the store: last purchase, number of purchases, money
    spent. The ORM writes it, so values are adapted to the database as everywhere else."""
    buyers = (
        _purchases(now=scope.now)
        .filter(store_id=scope.store_id)  # all the buyers, even for one customer: they rank
        .values("customer_id")
        .annotate(last_at=Max("placed_at"), n_orders=Count("id"), spent=Sum("total"))
        .order_by()
    )
    return buyers.query.sql_with_params()


# Ranking is done in plain SQL around the ORM's grouped query because Django puts window
# expressions over aggregates into the GROUP BY, and ranking per-customer subqueries
# instead is several times slower (1.4 s against 0.2 s for the demo store on SQLite).
# Scores are integer arithmetic: 1 + 5 x (buyers ranked strictly lower) / (all buyers).
_SCORE = "1 + {scores} * (RANK() OVER (ORDER BY {measure}) - 1) / COUNT(*) OVER ()"
_RFM_SQL = (
    "SELECT customer_id FROM (SELECT customer_id, "
    f"{_SCORE.format(scores=_SCORES, measure='last_at')} AS recency, "
    f"{_SCORE.format(scores=_SCORES, measure='n_orders')} AS frequency, "
    f"{_SCORE.format(scores=_SCORES, measure='spent')} AS monetary "
    "FROM ({buyers}) buyers) scores "
    "WHERE recency BETWEEN %s AND %s AND frequency BETWEEN %s AND %s "
    "AND monetary BETWEEN %s AND %s"
)
# In hundredths of a percent, the share of buyers who spent strictly more.
_TOP_SQL = (
    "SELECT customer_id FROM (SELECT customer_id, "
    f"{_BASIS_POINTS} * (RANK() OVER (ORDER BY spent DESC) - 1) / COUNT(*) OVER () AS ahead "
    "FROM ({buyers}) buyers) ranked WHERE ahead < %s"
)


def _rfm(segment: Rfm, *, scope: _Scope) -> Q:
    buyers, params = _buyers_sql(scope=scope)
    bounds = [
        bound
        for score in (segment.recency, segment.frequency, segment.monetary)
        for bound in (score.min, score.max)
    ]
    return Q(pk__in=RawSQL(_RFM_SQL.format(buyers=buyers), (*params, *bounds)))


def _top_spenders(top_percent: float, *, scope: _Scope) -> Q:
    buyers, params = _buyers_sql(scope=scope)
    limit = round(top_percent * _BASIS_POINTS / 100)
    return Q(pk__in=RawSQL(_TOP_SQL.format(buyers=buyers), (*params, limit)))
