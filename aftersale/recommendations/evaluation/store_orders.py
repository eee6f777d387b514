"""A store's own order history from the database, as the line arrays the evaluation
reads (the same `Orders` a CSV export gives)."""

from __future__ import annotations

import numpy as np
from django.db import connections
from django.db.models import FloatField, QuerySet
from django.db.models.functions import Cast

from aftersale.orders.models import NOT_PURCHASES, LineItem, Order
from aftersale.recommendations.evaluation.data import Orders
from aftersale.stores.models import Store


def store_orders(*, store: Store) -> Orders:
    """Every line of `store`'s sold orders: customer and order are row ids, product the
    catalog id, time the order's placement (UTC), price the line total."""
    orders = Order.objects.filter(store=store).exclude(status__in=NOT_PURCHASES)
    placed = list(orders.values_list("id", "customer_id", "placed_at"))
    order_ids = np.array([row[0] for row in placed], np.int64)
    customers = np.array([row[1] for row in placed], np.int64)
    seconds = np.array([int(row[2].timestamp()) for row in placed], np.int64)
    lines = _fetch_floats(
        LineItem.objects.filter(order__in=orders)
        .order_by()
        .values_list("order_id", "product_id", Cast("total", FloatField()))
    )
    ranked = np.argsort(order_ids)
    position = ranked[np.searchsorted(order_ids, lines[:, 0].astype(np.int64), sorter=ranked)]
    return Orders(
        customer=customers[position],
        order=order_ids[position],
        product=lines[:, 1].astype(np.int64),
        time=seconds[position].astype("datetime64[s]"),
        price=lines[:, 2],
    )


def _fetch_floats(queryset: QuerySet[LineItem, tuple[int, int, float]]) -> np.ndarray:
    """A numeric values_list query as a (rows, columns) float array, read through a raw
    cursor: building the ORM's tuple per row is what costs at a million lines (ids stay
    exact: they are far below 2**53)."""
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, np.float64).reshape(-1, 3)
