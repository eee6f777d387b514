"""What a store developer would build with the libraries, each tuned like our own methods.

Every fit reads only a History (orders before the cut) and returns a Scorer.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from aftersale.recommendations.evaluation.data import FloatArray, History, IntArray
from aftersale.recommendations.evaluation.ranking import Scorer

# implicit runs its own threads; a multithreaded BLAS underneath only oversubscribes.
_THREADS = 2


def fit_popularity(*, history: History, window_days: float) -> Scorer:
    """Everyone gets the products bought by the most customers in the last `window_days`."""
    recent = history.age_days < window_days
    n_products = history.shape[1]
    pairs = np.unique(history.row[recent] * n_products + history.col[recent])
    counts = np.bincount(pairs % n_products, minlength=n_products).astype(np.float64)

    def score(rows: IntArray) -> FloatArray:
        return np.broadcast_to(counts, (len(rows), len(counts))).copy()

    return score


def fit_personal_frequency(*, history: History) -> Scorer:
    """Each customer gets what they bought in the most baskets (Li et al. 2023's P-Pop);
    it knows nothing of products they never bought, which the popularity fill covers."""
    counts = history.counts

    def score(rows: IntArray) -> FloatArray:
        return np.asarray(counts[rows].toarray())

    return score


def fit_association_rules(
    *, history: History, max_products: int, source: str, max_len: int = 2
) -> Scorer:
    """mlxtend fpgrowth + association_rules on the one-hot basket table; a customer gets
    the consequents of every rule whose antecedent lies in their `source` ("last_basket"
    or "history"), scored by summed confidence.

    Bounded whatever the history: the minimum support is a count chosen from the data
    (`support_count`: the baskets of the `max_products`-th most frequent product, at
    least 2), so at most about `max_products` products become columns (fpgrowth
    densifies its input), and itemsets hold at most `max_len` products. No rule (a
    sparse history) gives a scorer with no opinion (zeros: popularity fills the lists)."""
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    baskets = sparse.csr_matrix(
        (np.ones(len(history.basket)), (history.basket, history.col)),
        shape=(int(history.basket.max(initial=-1)) + 1, history.shape[1]),
    )
    baskets.data[:] = 1
    n_baskets, n_products = baskets.shape
    frequency = np.asarray((baskets > 0).sum(axis=0)).ravel()
    min_count = support_count(frequency=frequency, max_products=max_products)
    frequent_cols = np.flatnonzero(frequency >= min_count)[:max_products]
    if n_baskets == 0 or len(frequent_cols) < 2:
        return _no_opinion(n_products)
    table = pd.DataFrame.sparse.from_spmatrix(  # type: ignore[attr-defined]
        baskets[:, frequent_cols].astype(bool), columns=[str(c) for c in frequent_cols]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlxtend warns that sparse input is slow
        itemsets = fpgrowth(
            table, min_support=min_count / n_baskets, use_colnames=True, max_len=max_len
        )
        if not len(itemsets) or itemsets["itemsets"].map(len).max() < 2:
            return _no_opinion(n_products)
        rules = association_rules(
            itemsets, num_itemsets=n_baskets, metric="confidence", min_threshold=0.0
        )
    if not len(rules):
        return _no_opinion(n_products)
    antecedents = _itemset_matrix(rules["antecedents"], n_products)
    consequents = _itemset_matrix(rules["consequents"], n_products)
    confidence = rules["confidence"].to_numpy(np.float64)
    consequents = sparse.csr_matrix(consequents.multiply(confidence[:, None]))
    sizes = np.asarray(antecedents.sum(axis=1)).ravel()
    sources = history.last_basket if source == "last_basket" else history.counts
    sources = (sources > 0).astype(np.float64).tocsr()
    antecedents_t = antecedents.T.tocsr()

    def score(rows: IntArray) -> FloatArray:
        matched = np.asarray((sources[rows] @ antecedents_t).toarray()) >= sizes[None, :]
        return np.asarray((sparse.csr_matrix(matched.astype(np.float64)) @ consequents).toarray())

    return score


def support_count(*, frequency: FloatArray | IntArray, max_products: int) -> int:
    """The minimum support, in baskets, that leaves about `max_products` products
    frequent: the basket count of the `max_products`-th most frequent product, at least
    2 (a pair seen once is no rule)."""
    if not len(frequency):
        return 2
    ranked = np.sort(np.asarray(frequency))[::-1]
    return max(2, int(ranked[min(max_products, len(ranked)) - 1]))


def _no_opinion(n_products: int) -> Scorer:
    def score(rows: IntArray) -> FloatArray:
        return np.zeros((len(rows), n_products))

    return score


def _itemset_matrix(itemsets: pd.Series, n_products: int) -> sparse.csr_matrix:
    """Rules x products, 1 where the product is in the rule's itemset."""
    rows = np.repeat(np.arange(len(itemsets)), [len(s) for s in itemsets])
    cols = np.fromiter((int(p) for s in itemsets for p in s), np.int64, len(rows))
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(itemsets), n_products))


def fit_als(*, history: History, factors: int, iterations: int, regularization: float) -> Scorer:
    """implicit's ALS on BM25-weighted basket counts (its documented recipe); a customer's
    score of a product is the dot product of their factors."""
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight

    weighted = bm25_weight(history.counts, K1=100, B=0.8).tocsr().astype(np.float32)
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's BLAS advice, which the limit follows
        model = AlternatingLeastSquares(
            factors=factors,
            iterations=iterations,
            regularization=regularization,
            random_state=0,
            num_threads=_THREADS,
        )
        model.fit(weighted, show_progress=False)
    users = np.asarray(model.user_factors, np.float64)
    items = np.asarray(model.item_factors, np.float64)

    def score(rows: IntArray) -> FloatArray:
        raw = users[rows] @ items.T
        # Shifted positive so every product stays a ranked candidate, in the same order.
        return raw - raw.min(axis=1, keepdims=True) + 1e-9

    return score


def fit_item_knn(*, history: History, kind: str, neighbours: int) -> Scorer:
    """implicit's item-item CosineRecommender or BM25Recommender (`kind` "cosine" or
    "bm25") keeping `neighbours` per item; a customer's scores are their basket counts
    times the item similarity, as implicit's own recommend computes them."""
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    model = (
        CosineRecommender(K=neighbours, num_threads=_THREADS)
        if kind == "cosine"
        else BM25Recommender(K=neighbours, num_threads=_THREADS)
    )
    counts = history.counts.astype(np.float32).tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit converts its own COO result to CSR
        model.fit(counts, show_progress=False)
    similarity = model.similarity.tocsr()

    def score(rows: IntArray) -> FloatArray:
        return np.asarray((counts[rows] @ similarity).toarray(), np.float64)

    return score
