"""Aftersale's strategies in NumPy/SciPy sparse, as fits over a History (orders before
the cut) returning a Scorer."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from aftersale.recommendations import neighbours as neighbours_
from aftersale.recommendations.cooccurrence import rank_bestsellers, score_pairs
from aftersale.recommendations.evaluation.data import FloatArray, History, IntArray
from aftersale.recommendations.evaluation.ranking import Scorer
from aftersale.recommendations.topk import best_positive

# What the live fit keeps: each customer's 24 discovery picks (services.DISCOVERY_PICKS)
# and each product's 20 best bought-together targets (its default top_n).
DISCOVERY_PICKS = 24
LIVE_PAIRS_TOP_N = 20


def fit_bestsellers(*, history: History, half_life_days: float) -> Scorer:
    """The production fallback: products bought by the most customers, recency-weighted
    (cooccurrence.rank_bestsellers)."""
    ranking = rank_bestsellers(
        customers=history.row,
        products=history.col,
        age_days=history.age_days,
        limit=history.shape[1],
        half_life_days=half_life_days,
    )
    scores = np.zeros(history.shape[1])
    scores[ranking.product] = ranking.score

    def score(rows: IntArray) -> FloatArray:
        return np.broadcast_to(scores, (len(rows), len(scores))).copy()

    return score


def fit_bought_together(*, history: History, top_n: int, shrinkage: float) -> Scorer:
    """The production "frequently bought together" pairs (cooccurrence.score_pairs) summed
    over the customer's last basket, as the cross-sell email uses them."""
    pairs = score_pairs(
        baskets=history.basket, products=history.col, top_n=top_n, shrinkage=shrinkage
    )
    n = history.shape[1]
    together = sparse.csr_matrix((pairs.score, (pairs.source, pairs.target)), shape=(n, n))
    last = (history.last_basket > 0).astype(np.float64).tocsr()

    def score(rows: IntArray) -> FloatArray:
        return np.asarray((last[rows] @ together).toarray())

    return score


def fit_personal(
    *, history: History, half_life_days: float, neighbours: int, own_weight: float
) -> Scorer:
    """User-KNN over whole, recency-weighted histories (TIFU-KNN style, SIGIR 2020).

    A customer's vector holds, per product, the baskets that held it, each weighing half
    as much every `half_life_days`; vectors are L2-normalised. The `neighbours` most
    cosine-similar customers' vectors are averaged (weighted by similarity) and blended
    with the customer's own vector: own_weight * own + (1 - own_weight) * neighbours.
    In cross_sell owned products are filtered, so only the neighbours speak.
    """
    vectors = neighbours_.recency_vectors(lines=_lines(history), half_life_days=half_life_days)
    similar = neighbours_.top_neighbours(vectors=vectors, neighbours=neighbours)
    by_product = vectors.T.tocsr()

    def score(rows: IntArray) -> FloatArray:
        own = np.asarray(vectors[rows].toarray())
        # Sparse products x customers times a dense block: neighbours touch most products.
        near = np.asarray(by_product @ similar[rows].T.toarray()).T
        return own_weight * _row_scaled(own) + (1.0 - own_weight) * _row_scaled(near)

    return score


def fit_discovery(
    *,
    history: History,
    neighbours: int,
    popularity_exponent: float,
    half_life_days: float,
    count_exponent: float,
    mix_weight: float = 0.0,
) -> Scorer:
    """Products new to the customer, from their nearest customers, as the live fit
    picks them (neighbours.fit_discovery), and, with `mix_weight`, as the cross-sell
    email mixes them: only each customer's DISCOVERY_PICKS best new products (what a
    live fit stores) compete with the products bought together with the last basket
    (the live fit's pairs) in one ranking, as variety.blend ranks them in a send. Owned
    products keep discovery's scores, so the replenishment lists are discovery's."""
    base = neighbours_.fit_discovery(
        lines=_lines(history),
        neighbours=neighbours,
        popularity_exponent=popularity_exponent,
        half_life_days=half_life_days,
        count_exponent=count_exponent,
    )
    if not mix_weight:
        return base
    owned = history.counts
    together = _live_pairs(history)
    last = (history.last_basket > 0).astype(np.float64).tocsr()

    def score(rows: IntArray) -> FloatArray:
        scores = base(rows)
        mine = owned[rows]
        owned_rows = np.repeat(np.arange(len(rows)), np.diff(mine.indptr))
        own_scores = scores[owned_rows, mine.indices]
        scores[owned_rows, mine.indices] = 0.0
        at, column = best_positive(scores, DISCOVERY_PICKS)
        picked = np.asarray(scores[at, column], np.float64)
        new = np.zeros(scores.shape, np.float64)
        new[at, column] = picked / _row_max(at, picked, len(rows))[at]
        # variety.blend over dense rows: bought-together scaled by its row's best.
        pairs = sparse.coo_matrix(last[rows] @ together)
        if pairs.nnz:
            value = mix_weight * pairs.data / _row_max(pairs.row, pairs.data, len(rows))[pairs.row]
            new[pairs.row, pairs.col] = np.maximum(new[pairs.row, pairs.col], value)
        new[owned_rows, mine.indices] = own_scores
        return new

    return score


def _row_max(row: IntArray, values: FloatArray, rows: int) -> FloatArray:
    """Each row's largest value (at least a tiny positive number, to divide by)."""
    best = np.full(rows, 1e-300)
    np.maximum.at(best, row, values)
    return best


def _live_pairs(history: History) -> sparse.csr_matrix:
    """Products x products: the bought-together pairs the live fit mines (its top_n and
    shrinkage)."""
    pairs = score_pairs(baskets=history.basket, products=history.col, top_n=LIVE_PAIRS_TOP_N)
    n = history.shape[1]
    return sparse.csr_matrix((pairs.score, (pairs.source, pairs.target)), shape=(n, n))


def _lines(history: History) -> neighbours_.Lines:
    """The History's distinct (basket, product) lines."""
    lines = history.distinct
    return neighbours_.Lines(
        customers=history.row[lines],
        products=history.col[lines],
        age_days=history.age_days[lines],
        shape=history.shape,
    )


def _row_scaled(scores: FloatArray) -> FloatArray:
    """Each row divided by its maximum, so two score sources blend on one scale."""
    return scores / np.maximum(scores.max(axis=1, keepdims=True), 1e-12)
