"""A tiny shop whose order history is written by hand, so the right picks are known."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.recommendations.selectors import Pick, recommend
from aftersale.stores.models import Store

DAY0 = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)


class Shop:
    """Products by name, and orders placed with one call per batch of baskets."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ids: dict[str, int] = {}
        self._orders = 0

    def products(
        self, *names: str, category: str = "", price: str = "5.00", stock: int | None = None
    ) -> None:
        """Add products (each in its own category unless one is given)."""
        records = [
            ProductRecord(
                name, name.title(), category=category or name, price=Decimal(price), stock=stock
            )
            for name in names
        ]
        self.ids.update(upsert_products(store=self.store, records=records))

    def baskets(
        self,
        *baskets: Iterable[str],
        customer: str | None = None,
        at: dt.datetime = DAY0,
        cancelled: bool = False,
        times: int = 1,
    ) -> None:
        """Place one order per basket (`times` over), each by a new customer unless named."""
        records = []
        for _ in range(times):
            for basket in baskets:
                self._orders += 1
                records.append(self._record(list(basket), customer, at, cancelled))
        ingest_orders(store=self.store, records=records, now=at)

    def customer_id(self, name: str) -> int:
        return Customer.objects.get(store=self.store, external_id=name).pk

    def names(self, product_ids: Iterable[int]) -> list[str]:
        by_id = {pk: name for name, pk in self.ids.items()}
        return [by_id[pk] for pk in product_ids]

    def recommend(
        self, customer: str, *basket: str, now: dt.datetime, **options: Any
    ) -> list[Pick]:
        """The picks for `customer` who bought the products named `basket`."""
        return recommend(
            store=self.store,
            customer_id=self.customer_id(customer),
            basket_product_ids=[self.ids[name] for name in basket],
            now=now,
            **options,
        )

    def picked(self, picks: list[Pick]) -> list[str]:
        """The names of the picked products, in order."""
        return self.names(p.product_id for p in picks)

    def _record(
        self, basket: list[str], customer: str | None, at: dt.datetime, cancelled: bool
    ) -> OrderRecord:
        who = customer or f"c{self._orders}"
        return OrderRecord(
            external_id=f"o{self._orders}",
            customer=CustomerRecord(who, f"{who}@example.com"),
            placed_at=at,
            line_items=tuple(LineItemRecord(name, 1, Decimal("5.00")) for name in basket),
            cancelled_at=at if cancelled else None,
        )


@pytest.fixture
def shop(store: Store) -> Shop:
    """An empty shop on the test store."""
    return Shop(store)
