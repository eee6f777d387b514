"""Hand-made order histories for the evaluation tests."""

from __future__ import annotations

import numpy as np

from aftersale.recommendations.evaluation.data import Orders

CUT = np.datetime64("2024-03-01T00:00:00")


def orders_from(baskets: list[tuple[int, str, list[int]]]) -> Orders:
    """Orders from (customer, ISO date, products) baskets, one basket each."""
    customer, order, product, time = [], [], [], []
    for number, (who, day, items) in enumerate(baskets):
        for item in items:
            customer.append(who)
            order.append(number)
            product.append(item)
            time.append(np.datetime64(f"{day}T12:00:00"))
    return Orders(
        customer=np.array(customer, np.int64),
        order=np.array(order, np.int64),
        product=np.array(product, np.int64),
        time=np.array(time, "datetime64[s]"),
        price=np.ones(len(product)),
    )
