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
    """
    x, product_ids = _basket_matrix(baskets, products)
    n_baskets = x.shape[0]
    item_support = np.bincount(x.indices, minlength=len(product_ids))
    # A product in fewer than min_support baskets cannot be in a kept pair; dropping it
    # before the product shrinks XᵀX.
    x.data[item_support[x.indices] < min_support] = 0
    x.eliminate_zeros()
    rows, cols, support = _cooccurrence(x, min_support)
    source_n, target_n = item_support[rows], item_support[cols]
    score = _blend(support, source_n, target_n, shrinkage)
    beats_chance = support * n_baskets > source_n * target_n
    rows, cols, support, score = (a[beats_chance] for a in (rows, cols, support, score))
    keep = _top_per_group(rows, score, top_n)
    return PairScores(
        source=product_ids[rows[keep]],
        target=product_ids[cols[keep]],
        score=score[keep],
        support=support[keep],
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


def _basket_matrix(
    baskets: npt.ArrayLike, products: npt.ArrayLike
) -> tuple[sparse.csr_matrix, IntArray]:
    """The binary basket-by-product matrix of the lines, and the product id of each column."""
    basket_index, _ = pd.factorize(np.asarray(baskets, dtype=np.int64))
    product_index, product_ids = pd.factorize(np.asarray(products, dtype=np.int64))
    x = sparse.csr_matrix(
        (np.ones(len(basket_index), dtype=np.int32), (basket_index, product_index)),
        shape=(int(basket_index.max(initial=-1)) + 1, len(product_ids)),
    )
    x.sum_duplicates()
    # A product bought twice in one basket is still one basket.
    x.data[:] = 1
    return x, np.asarray(product_ids, dtype=np.int64)


def _cooccurrence(x: sparse.csr_matrix, min_support: int) -> tuple[IntArray, IntArray, IntArray]:
    """Off-diagonal (row, col, count) of XᵀX, counts below `min_support` left out."""
    counts = (x.T.tocsr() @ x).tocoo()
    keep = (counts.row != counts.col) & (counts.data >= min_support)
    return (
        counts.row[keep].astype(np.int64),
        counts.col[keep].astype(np.int64),
        counts.data[keep].astype(np.int64),
    )


def _blend(
    support: IntArray, source_support: IntArray, target_support: IntArray, shrinkage: float
) -> FloatArray:
    """Cosine of the two products' basket vectors, shrunk toward zero for low support."""
    s = support.astype(np.float64)
    cosine = s / np.sqrt(source_support.astype(np.float64) * target_support)
    return cosine * s / (s + shrinkage)


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
