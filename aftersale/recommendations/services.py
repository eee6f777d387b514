"""Fitting recommendations from a store's order history (bulk writes; a send only reads)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connections, router, transaction
from django.db.models import QuerySet

from aftersale.orders.models import LineItem, Order, OrderStatus
from aftersale.recommendations.cooccurrence import (
    IntArray,
    PairScores,
    Ranking,
    rank_bestsellers,
    score_pairs,
)
from aftersale.recommendations.models import AssociationKind, ProductAssociation, ProductRank
from aftersale.stores.models import Store

BESTSELLER = "bestseller"
# Orders that did not end in a sale say nothing about what goes together.
_NOT_SOLD = [OrderStatus.CANCELLED, OrderStatus.REFUNDED]
_INSERT_BATCH = 20_000


@dataclass(frozen=True)
class FitSummary:
    """What a fit read and wrote: baskets and distinct products read, pairs written."""

    baskets: int
    products: int
    pairs: int
    seconds: float


@dataclass(frozen=True)
class _History:
    """Line-level arrays of the order history a fit reads."""

    orders: IntArray
    customers: IntArray
    products: IntArray
    age_days: np.ndarray


def fit_recommendations(
    *,
    store: Store,
    until: dt.datetime | None = None,
    top_n: int = 20,
    bestsellers: int = 200,
) -> FitSummary:
    """Mine the store's sold orders (those placed before `until` when given) and replace
    its "bought together" associations (the `top_n` best per product) and its
    `bestsellers` ranking. Either all rows are replaced or none."""
    started = time.perf_counter()
    history = _read_history(store=store, until=until)
    pairs = score_pairs(baskets=history.orders, products=history.products, top_n=top_n)
    ranking = rank_bestsellers(
        customers=history.customers,
        products=history.products,
        age_days=history.age_days,
        limit=bestsellers,
    )
    with transaction.atomic():
        _replace_associations(store=store, pairs=pairs)
        _replace_ranking(store=store, ranking=ranking)
    return FitSummary(
        baskets=pairs.baskets,
        products=pairs.products,
        pairs=len(pairs),
        seconds=time.perf_counter() - started,
    )


def _read_history(*, store: Store, until: dt.datetime | None) -> _History:
    """Every line of the store's sold orders before `until`, as arrays."""
    orders = Order.objects.filter(store=store).exclude(status__in=_NOT_SOLD)
    if until is not None:
        orders = orders.filter(placed_at__lt=until)
    order_rows = list(orders.values_list("id", "customer_id", "placed_at"))
    if not order_rows:
        empty = np.empty(0, dtype=np.int64)
        return _History(empty, empty, empty, np.empty(0))
    order_ids = np.fromiter((r[0] for r in order_rows), np.int64, len(order_rows))
    customer_ids = np.fromiter((r[1] for r in order_rows), np.int64, len(order_rows))
    stamps = np.fromiter((r[2].timestamp() for r in order_rows), np.float64, len(order_rows))
    # Recency is measured from the fit's horizon, not the wall clock: a fit of old data
    # (or a backtest) weighs orders as they were then.
    horizon = until.timestamp() if until is not None else float(stamps.max())
    lines = _fetch_ints(
        LineItem.objects.filter(order__in=orders).values_list("order_id", "product_id")
    )
    order_ids, customer_ids, stamps = _sorted_by(order_ids, customer_ids, stamps)
    position = np.searchsorted(order_ids, lines[:, 0])
    return _History(
        orders=lines[:, 0],
        customers=customer_ids[position],
        products=lines[:, 1],
        age_days=(horizon - stamps[position]) / 86_400.0,
    )


def _sorted_by(keys: IntArray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """`keys` sorted, with `columns` permuted alike."""
    order = np.argsort(keys, kind="stable")
    return (keys[order], *(c[order] for c in columns))


def _fetch_ints(queryset: QuerySet[Any, Any]) -> IntArray:
    """The rows of an all-integer values_list query as a 2-D array.

    A raw cursor over the compiled query skips building a Python tuple per row through the
    ORM, which matters at a million lines.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(queryset.query.values_select)
    if not rows:
        return np.empty((0, width), dtype=np.int64)
    return np.array(rows, dtype=np.int64).reshape(-1, width)


def _replace_associations(*, store: Store, pairs: PairScores) -> None:
    """Swap the store's bought-together rows for `pairs` (caller holds a transaction)."""
    kind = AssociationKind.BOUGHT_TOGETHER
    ProductAssociation.objects.filter(store=store, kind=kind).delete()
    rows = zip(
        pairs.source.tolist(),
        pairs.target.tolist(),
        pairs.score.tolist(),
        pairs.support.tolist(),
        strict=True,
    )
    _insert_rows(
        ProductAssociation,
        ["store_id", "kind", "source_id", "target_id", "score", "support"],
        ((store.pk, str(kind), *row) for row in rows),
    )


def _replace_ranking(*, store: Store, ranking: Ranking) -> None:
    """Swap the store's bestseller ranking for `ranking` (caller holds a transaction)."""
    ProductRank.objects.filter(store=store, kind=BESTSELLER).delete()
    ProductRank.objects.bulk_create(
        ProductRank(store=store, kind=BESTSELLER, product_id=product, rank=rank, score=score)
        for rank, (product, score) in enumerate(
            zip(ranking.product.tolist(), ranking.score.tolist(), strict=True), start=1
        )
    )


def _insert_rows(model: Any, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert plain tuples with executemany.

    bulk_create builds a model instance per row, which for the hundreds of thousands of
    pairs of a real store costs more than the whole fit.
    """
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    names = [quote(meta.get_field(c.removesuffix("_id")).column) for c in columns]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(names)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) >= _INSERT_BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
