"""Reads of a store's order history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connections
from django.db.models import FloatField, QuerySet
from django.db.models.functions import Cast

from aftersale.orders.models import NOT_PURCHASES, Checkout, LineItem, Order
from aftersale.stores.models import Store

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PurchaseLines:
    """Line items of a store's purchases as arrays, one entry per line in each: its
    order's id, customer id and placement (seconds since the epoch), its product id and
    its total."""

    order: IntArray
    customer: IntArray
    placed_at: FloatArray
    product: IntArray
    total: FloatArray


def purchase_lines(*, store: Store, until: dt.datetime | None = None) -> PurchaseLines:
    """Every line of `store`'s purchases (orders neither cancelled nor refunded) placed
    before `until` when given, in no particular order. Read through a raw cursor: an
    ORM tuple per row is what costs at a million lines."""
    import numpy as np  # here, not at start-up: the API's URLs import this module

    orders = Order.objects.filter(store=store).exclude(status__in=NOT_PURCHASES)
    if until is not None:
        orders = orders.filter(placed_at__lt=until)
    placed = list(orders.values_list("id", "customer_id", "placed_at"))
    order_ids = np.fromiter((row[0] for row in placed), np.int64, len(placed))
    customers = np.fromiter((row[1] for row in placed), np.int64, len(placed))
    seconds = np.fromiter((row[2].timestamp() for row in placed), np.float64, len(placed))
    lines = _float_rows(
        LineItem.objects.filter(order__in=orders)
        .order_by()
        .values_list("order_id", "product_id", Cast("total", FloatField()))
    )
    line_orders = lines[:, 0].astype(np.int64)
    ranked = np.argsort(order_ids)
    position = ranked[np.searchsorted(order_ids, line_orders, sorter=ranked)]
    return PurchaseLines(
        order=line_orders,
        customer=customers[position],
        placed_at=seconds[position],
        product=lines[:, 1].astype(np.int64),
        total=lines[:, 2],
    )


def _float_rows(queryset: QuerySet[LineItem, tuple[int, int, float]]) -> FloatArray:
    """A three-column numeric values_list query as a (rows, 3) float array (ids stay
    exact: they are far below 2**53)."""
    import numpy as np

    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, np.float64).reshape(-1, 3)


def store_orders(
    *,
    store: Store,
    customer_external_id: str | None = None,
    placed_since: dt.datetime | None = None,
    placed_until: dt.datetime | None = None,
) -> QuerySet[Order]:
    """The store's orders in id order with their customers and line items (and the lines'
    products) loaded; when given, only those of the customer with the store's id
    `customer_external_id` and those placed at or after `placed_since` and before
    `placed_until`."""
    orders = (
        Order.objects.filter(store=store)
        .select_related("customer")
        .prefetch_related("line_items__product")
        .order_by("pk")
    )
    if customer_external_id is not None:
        orders = orders.filter(customer__external_id=customer_external_id)
    if placed_since is not None:
        orders = orders.filter(placed_at__gte=placed_since)
    if placed_until is not None:
        orders = orders.filter(placed_at__lt=placed_until)
    return orders


def order_by_external_id(*, store: Store, external_id: str) -> Order | None:
    """The store's order with the store's own id `external_id`, with its customer and
    line items loaded, if there is one."""
    return store_orders(store=store).filter(external_id=external_id).first()


def latest_basket(*, store: Store, customer_id: int) -> list[int]:
    """The product ids of the customer's latest purchase (no cancelled or refunded
    order), empty when they have none: what a recommendation for them starts from."""
    latest = (
        Order.objects.filter(store=store, customer_id=customer_id)
        .exclude(status__in=NOT_PURCHASES)
        .order_by("-placed_at", "-pk")
        .first()
    )
    if latest is None:
        return []
    return list(LineItem.objects.filter(order=latest).values_list("product_id", flat=True))


def customer_checkouts(*, customer_id: int) -> QuerySet[Checkout]:
    """The customer's checkouts in the order they were started, with their lines'
    products loaded."""
    return (
        Checkout.objects.filter(customer_id=customer_id)
        .prefetch_related("lines__product")
        .order_by("started_at", "pk")
    )
