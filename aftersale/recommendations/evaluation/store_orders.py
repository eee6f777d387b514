"""A store's own order history from the database, as the line arrays the evaluation
reads (the same `Orders` a CSV export gives)."""

from __future__ import annotations

import numpy as np

from aftersale.orders.selectors import purchase_lines
from aftersale.recommendations.evaluation.data import Orders
from aftersale.stores.models import Store


def store_orders(*, store: Store) -> Orders:
    """Every line of `store`'s purchases: customer and order are row ids, product the
    catalog id, time the order's placement (UTC), price the line total."""
    lines = purchase_lines(store=store)
    return Orders(
        customer=lines.customer,
        order=lines.order,
        product=lines.product,
        time=lines.placed_at.astype(np.int64).astype("datetime64[s]"),
        price=lines.total,
    )
