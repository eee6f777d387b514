"""Mining order history with sparse matrices: pure NumPy/SciPy, no database.

Kept apart from the fit service so it can be tested and benchmarked on plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PairScores:
    """Scored "bought `source`, also bought `target`" pairs, best first within each source."""

    source: IntArray
    target: IntArray
    score: FloatArray
    support: IntArray
    baskets: int
    products: int

    def __len__(self) -> int:
        return len(self.source)


_NO_PAIRS = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))


@dataclass(frozen=True)
class Ranking:
    """Products ranked best first, with their scores."""

    product: IntArray
    score: FloatArray


def score_pairs(
    *,
    baskets: npt.ArrayLike,
    products: npt.ArrayLike,
    top_n: int = 20,
    min_support: int = 2,
    shrinkage: float = 5.0,
    threads: int = 1,
) -> PairScores:
    """Score every pair of products bought in the same basket and keep each source's
    `top_n` best targets, best first.

    `baskets[i]` and `products[i]` are the basket and product of line i (any integer ids;
    a product repeated in a basket counts once). A pair is kept only when at least
    `min_support` baskets hold both and it is bought together more often than chance
    (lift > 1). With s shared baskets and n_a, n_b baskets holding each product, the score
    of target b for source a is

        s / sqrt(n_a * n_b)  *  s / (s + shrinkage)

    The first factor is the geometric mean of the confidences both ways, i.e. the
    confidence P(b|a) damped by the square root of b's popularity: between confidence,
    which puts bananas on every list, and lift, which favours pairs seen twice. The second
    shrinks pairs seen in only a few baskets toward zero.

    Sources come in the order of their first line. Ties: of two targets with the same
    score, the one whose first basket shared with the source is later comes first (baskets
    in the order of their first line), then the one whose first line is later (the order
    the sparse product XᵀX listed them in, kept when pair_counts replaced it). Counted on
    `threads` threads (settings.FIT_THREADS in the daily fit), in memory for the lines and
    the pairs kept.
    """
    # Imported here: numba takes half a second to import, which only fits should pay.
    from aftersale.recommendations import pair_counts

    basket_index, _ = pair_counts.numbered(np.asarray(baskets, dtype=np.int64))
    product_index, product_ids = pair_counts.numbered(np.asarray(products, dtype=np.int64))
    n_baskets = int(basket_index.max(initial=-1)) + 1
    if not n_baskets:
        return PairScores(*_NO_PAIRS, baskets=0, products=len(product_ids))
    index = pair_counts.index_baskets(
        basket=basket_index,
        product=product_index,
        n_baskets=n_baskets,
        n_products=len(product_ids),
        min_support=min_support,
    )
    source, target, score, support = pair_counts.best_pairs(
        index,
        n_baskets=n_baskets,
        top_n=top_n,
        min_support=min_support,
        shrinkage=float(shrinkage),
        threads=threads,
    )
    return PairScores(
        source=product_ids[source],
        target=product_ids[target],
        score=score,
        support=support,
        baskets=n_baskets,
        products=len(product_ids),
    )


def rank_bestsellers(
    *,
    customers: npt.ArrayLike,
    products: npt.ArrayLike,
    age_days: npt.ArrayLike,
    limit: int = 200,
    half_life_days: float = 90.0,
) -> Ranking:
    """The `limit` products bought by the most distinct customers, best first.

    Each customer counts once per product, weighted by how recent their latest purchase
    of it is (weight halves every `half_life_days` of `age_days`), so a product that sold
    well long ago gives way to one selling now.
    """
    customer = np.asarray(customers, dtype=np.int64)
    product = np.asarray(products, dtype=np.int64)
    age = np.asarray(age_days, dtype=np.float64)
    if not len(product):
        return Ranking(np.empty(0, np.int64), np.empty(0, np.float64))
    # Most recent purchase first, so np.unique's first occurrence is the latest one.
    order = np.lexsort((age, product, customer))
    pairs = np.stack([customer[order], product[order]], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)
    latest_product, latest_age = product[order][first], age[order][first]
    weight = np.power(0.5, np.maximum(latest_age, 0.0) / half_life_days)
    product_ids, index = np.unique(latest_product, return_inverse=True)
    score = np.bincount(index, weights=weight).astype(np.float64)
    best = np.lexsort((product_ids, -score))[:limit]
    return Ranking(product_ids[best], score[best])


def similar_items(
    *,
    customers: npt.ArrayLike,
    baskets: npt.ArrayLike,
    products: npt.ArrayLike,
    age_days: npt.ArrayLike,
    top_n: int = 20,
    half_life_days: float = 365.0,
    min_customers: int = 2,
    max_history: int = 300,
    block: int = 2_000,
) -> PairScores:
    """Item-item similarity over whole customer histories ("customers who bought `source`
    at some time also bought `target`"), each source's `top_n` best targets, best first.

    A customer's history vector holds, per product, the baskets that held it, each
    weighing half as much every `half_life_days` of `age_days`, L2-normalised so a heavy
    buyer does not speak for many; only their `max_history` heaviest products are kept,
    which bounds the cost (quadratic in a history's length). The score is the cosine of
    two products' columns; pairs need `min_customers` customers who bought both.
    `support` counts those customers. Computed `block` source products at a time, so the
    products x products matrix is never held whole.
    """
    x, product_ids = _history_matrix(customers, baskets, products, age_days, half_life_days)
    x = _heaviest_per_row(x, max_history)
    bought = x.copy()
    bought.data[:] = 1.0
    buyers = np.asarray(bought.sum(axis=0)).ravel()
    x.data[buyers[x.indices] < min_customers] = 0
    x.eliminate_zeros()
    column_norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    x = sparse.csr_matrix(x @ sparse.diags(1.0 / np.maximum(column_norms, 1e-12)))
    by_product = x.T.tocsr()
    bought_by_product = (by_product > 0).astype(np.float32)
    parts = [
        _similar_block(by_product, x, bought_by_product, start, start + block, top_n, min_customers)
        for start in range(0, by_product.shape[0], block)
    ] or [_NO_PAIRS]
    rows, cols, score, support = (np.concatenate(column) for column in zip(*parts, strict=True))
    return PairScores(
        source=product_ids[rows],
        target=product_ids[cols],
        score=score.astype(np.float64),
        support=support,
        baskets=len(np.unique(np.asarray(baskets))),
        products=len(product_ids),
    )


def _similar_block(
    by_product: sparse.csr_matrix,
    x: sparse.csr_matrix,
    bought_by_product: sparse.csr_matrix,
    start: int,
    stop: int,
    top_n: int,
    min_customers: int,
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """Rows start..stop of the item-item cosine, top_n per row, with co-buyer counts."""
    cosine = sparse.csr_matrix(by_product[start:stop] @ x)
    entry_rows = np.repeat(np.arange(start, start + cosine.shape[0]), np.diff(cosine.indptr))
    cosine.data[entry_rows == cosine.indices] = 0  # a product is not its own neighbour
    cosine.eliminate_zeros()
    # Co-buyers of each pair among a few times top_n candidates: the cosine of a pair
    # with one common customer can be high, so rank only pairs with enough of them.
    rows, cols, score = _top_per_row(cosine, top_n * 4)
    rows += start
    support = np.asarray(
        bought_by_product[rows].multiply(bought_by_product[cols]).sum(axis=1)
    ).ravel()
    enough = support >= min_customers
    rows, cols, score, support = rows[enough], cols[enough], score[enough], support[enough]
    best = _top_per_group(rows, score, top_n)
    return rows[best], cols[best], score[best], support[best].astype(np.int64)


@dataclass(frozen=True)
class Intervals:
    """Per product, the median days between a customer's purchases of it, and how many
    customers bought it more than once."""

    product: IntArray
    median_days: FloatArray
    repeat_customers: IntArray


def repurchase_intervals(
    *,
    customers: npt.ArrayLike,
    baskets: npt.ArrayLike,
    products: npt.ArrayLike,
    age_days: npt.ArrayLike,
    min_customers: int = 2,
    min_gap_days: float = 1.0,
) -> Intervals:
    """Each product's repurchase interval: the median gap between consecutive purchases
    of it by the same customer, over every customer who bought it more than once.

    Purchases less than `min_gap_days` apart are one shopping trip split in two, not a
    repurchase. Products with fewer than `min_customers` repeat customers get no interval.
    """
    lines = pd.DataFrame(
        {
            "customer": np.asarray(customers, dtype=np.int64),
            "basket": np.asarray(baskets, dtype=np.int64),
            "product": np.asarray(products, dtype=np.int64),
            # Oldest purchase first: age counts backwards.
            "day": -np.asarray(age_days, dtype=np.float64),
        }
    ).drop_duplicates(["customer", "basket", "product"])
    lines = lines.sort_values(["customer", "product", "day"], kind="stable")
    same = (lines["customer"].diff() == 0) & (lines["product"].diff() == 0)
    gaps = lines.assign(gap=lines["day"].diff())[same]
    gaps = gaps[gaps["gap"] >= min_gap_days]
    per_product = gaps.groupby("product").agg(
        median_days=("gap", "median"), repeat_customers=("customer", "nunique")
    )
    per_product = per_product[per_product["repeat_customers"] >= min_customers]
    return Intervals(
        product=per_product.index.to_numpy(dtype=np.int64),
        median_days=per_product["median_days"].to_numpy(dtype=np.float64),
        repeat_customers=per_product["repeat_customers"].to_numpy(dtype=np.int64),
    )


def top_per_group(groups: npt.ArrayLike, score: npt.ArrayLike, top_n: int) -> IntArray:
    """Indexes of the `top_n` highest scores within each group (e.g. the bestsellers of
    each category), grouped and best first."""
    return _top_per_group(
        np.asarray(groups, dtype=np.int64), np.asarray(score, dtype=np.float64), top_n
    )


def _history_matrix(
    customers: npt.ArrayLike,
    baskets: npt.ArrayLike,
    products: npt.ArrayLike,
    age_days: npt.ArrayLike,
    half_life_days: float,
) -> tuple[sparse.csr_matrix, IntArray]:
    """Customers x products, float32: the baskets holding each product, recency-weighted,
    rows L2-normalised; and the product id of each column."""
    customer_index, _ = pd.factorize(np.asarray(customers, dtype=np.int64))
    product_index, product_ids = pd.factorize(np.asarray(products, dtype=np.int64))
    basket = np.asarray(baskets, dtype=np.int64)
    # A product repeated in a basket counts once.
    _, first = np.unique(basket * len(product_ids) + product_index, return_index=True)
    age = np.maximum(np.asarray(age_days, dtype=np.float64)[first], 0.0)
    weight = np.power(0.5, age / half_life_days).astype(np.float32)
    x = sparse.csr_matrix(
        (weight, (customer_index[first], product_index[first])),
        shape=(int(customer_index.max(initial=-1)) + 1, len(product_ids)),
        dtype=np.float32,
    )
    x.sum_duplicates()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sparse.csr_matrix(sparse.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ x)
    return x, np.asarray(product_ids, dtype=np.int64)


def _top_per_row(x: sparse.csr_matrix, limit: int) -> tuple[IntArray, IntArray, FloatArray]:
    """(row, col, value) of each row's `limit` largest entries, in no particular order.

    One partial sort per row: sorting a whole block of a large similarity matrix at once
    costs ten times more.
    """
    keep = []
    for row in np.flatnonzero(np.diff(x.indptr) > limit):
        begin, end = x.indptr[row], x.indptr[row + 1]
        keep.append(begin + np.argpartition(-x.data[begin:end], limit - 1)[:limit])
    counts = np.diff(x.indptr)
    small = np.repeat(counts <= limit, counts)
    index = np.concatenate([np.flatnonzero(small), *keep]).astype(np.int64)
    rows = np.repeat(np.arange(x.shape[0], dtype=np.int64), counts)
    return rows[index], x.indices[index].astype(np.int64), x.data[index].astype(np.float64)


def _heaviest_per_row(x: sparse.csr_matrix, limit: int) -> sparse.csr_matrix:
    """`x` with only each row's `limit` largest entries."""
    coo = x.tocoo()
    keep = _top_per_group(coo.row.astype(np.int64), coo.data.astype(np.float64), limit)
    return sparse.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=x.shape, dtype=np.float32
    )


def _top_per_group(groups: IntArray, score: FloatArray, top_n: int) -> IntArray:
    """Indexes of the `top_n` highest scores of each group, grouped and best first."""
    # Two stable sorts (the integer one is a radix sort) beat one two-key lexsort.
    by_score = np.argsort(-score, kind="stable")
    order = by_score[np.argsort(groups[by_score], kind="stable")]
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_groups)])
    rank = np.arange(len(sorted_groups)) - np.repeat(starts, sizes)
    return order[rank < top_n]
