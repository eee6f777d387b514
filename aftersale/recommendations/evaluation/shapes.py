"""Seeded order exports of two shapes no dataset of ours has, written as CSV files with
their own headers, so the evaluation is tried on histories unlike the Complete Journey:

- grocery: large baskets, many repeats: 600 customers, 15,000 orders of about 10 lines
  (150,000 lines) over a year, each customer with staples bought again and again;
- gift shop: small, sparse: 3,600 customers, about 30,000 lines, most customers order
  once, a few come back, over two years.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

GROCERY_COLUMNS = (
    "customer=Customer ID,order=Order Number,product=SKU,time=Order Date,price=Line Total"
)
GIFT_SHOP_COLUMNS = "customer=email,order=order_id,product=sku,time=created_at,price=price"
_IMPORT_HEADER = [
    *("order_id", "customer_id", "email", "first_name"),
    *("placed_at", "product_id", "quantity", "unit_price"),
]
_START = np.datetime64("2025-01-01T08:00:00")


def write_grocery(*, path: Path, seed: int = 0, customers: int = 600, orders: int = 15_000) -> Path:
    """The grocery export at `path`: every customer has 10 staples from one of 12 aisles'
    worth of tastes and fills each basket of about 10 lines with staples, their taste
    and the store's bestsellers."""
    rng = np.random.default_rng(seed)
    n_products, n_tastes = 3000, 12
    popular = _zipf(rng, n_products)
    tastes = [rng.choice(n_products, size=120, replace=False) for _ in range(n_tastes)]
    taste = rng.integers(0, n_tastes, customers)
    staples = [rng.choice(tastes[t], size=10, replace=False) for t in taste]
    owner = rng.integers(0, customers, orders)
    days = rng.uniform(0, 365, orders)

    def lines() -> Iterator[list[object]]:
        for number in np.argsort(days):
            c = int(owner[number])
            size = max(1, int(rng.poisson(10)))
            picks = {
                *rng.choice(staples[c], size=min(size // 2, 10), replace=False).tolist(),
                *rng.choice(tastes[taste[c]], size=size // 4).tolist(),
                *rng.choice(n_products, size=size - size // 2 - size // 4, p=popular).tolist(),
            }
            placed = _START + np.timedelta64(int(days[number] * 86400), "s")
            for sku in sorted(picks):
                yield [
                    f"C{c:05d}",
                    f"G{number:06d}",
                    f"SKU-{sku}",
                    str(placed),
                    f"{2 + sku % 9}.99",
                ]

    return _write(path, ["Customer ID", "Order Number", "SKU", "Order Date", "Line Total"], lines())


def write_gift_shop(*, path: Path, seed: int = 0, customers: int = 3600) -> Path:
    """The gift-shop export at `path`: three customers in four order once, the rest two
    to four times; orders of about 6 lines drawn from 2,500 gifts by popularity, a
    returning customer half the time in their own corner of the catalog."""
    rng = np.random.default_rng(seed)
    n_products = 2500
    popular = _zipf(rng, n_products, exponent=0.8)
    visits = np.where(rng.random(customers) < 0.75, 1, rng.integers(2, 5, customers))
    corner = rng.integers(0, n_products - 50, customers)
    rows: list[tuple[float, int, int]] = []
    for c in range(customers):
        first = rng.uniform(0, 700)
        for v in range(int(visits[c])):
            rows.append((min(first + v * rng.uniform(20, 200), 729.0), c, len(rows)))

    def lines() -> Iterator[list[object]]:
        for day, c, number in sorted(rows):
            size = 1 + int(rng.poisson(5))
            own = rng.integers(corner[c], corner[c] + 50, size // 2)
            picks = {*own.tolist(), *rng.choice(n_products, size - len(own), p=popular).tolist()}
            placed = _START + np.timedelta64(int(day * 86400), "s")
            for sku in sorted(picks):
                yield [
                    f"c{c}@example.com",
                    f"#{1000 + number}",
                    f"gift-{sku}",
                    str(placed),
                    f"{5 + sku % 40}.00",
                ]

    return _write(path, ["email", "order_id", "sku", "created_at", "price"], lines())


def _zipf(rng: np.random.Generator, n: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def _write(path: Path, header: list[str], lines: Iterator[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(lines)
    return path


def as_import_csv(*, source: Path, columns: str, path: Path) -> Path:
    """The export at `source` (its roles named by `columns`, as `--columns` takes them)
    rewritten with the headers `aftersale import orders` reads, one unit a line, so the
    same history can be evaluated from a store's database."""
    from aftersale.recommendations.evaluation.data import parse_columns

    names = parse_columns(spec=columns)
    with source.open(newline="") as handle, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(_IMPORT_HEADER)
        for row in csv.DictReader(handle):
            customer = row[names["customer"]]
            email = customer if "@" in customer else f"{customer.lower()}@example.com"
            placed = row[names["time"]] + ("" if row[names["time"]].endswith("Z") else "Z")
            price = row.get(names.get("price", ""), "") or "1.00"
            order, product = row[names["order"]], row[names["product"]]
            writer.writerow([order, customer, email, "Sam", placed, product, "1", price])
    return path
