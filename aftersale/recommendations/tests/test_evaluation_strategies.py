import numpy as np
import pytest
from scipy import sparse

from aftersale.recommendations.evaluation import baselines, strategies
from aftersale.recommendations.evaluation.data import temporal_split
from aftersale.recommendations.evaluation.ranking import top_k
from aftersale.recommendations.tests.evaluation_fixtures import CUT, orders_from

# Customers 1 and 2 share a taste (tea, cups, honey); 3 and 4 another (beer, chips).
TEA, CUP, HONEY, BEER, CHIPS, SALSA = 1, 2, 3, 4, 5, 6
SHOP = [
    (1, "2024-01-10", [TEA, CUP]),
    (1, "2024-02-10", [TEA, CUP]),
    (2, "2024-01-12", [TEA, CUP, HONEY]),
    (2, "2024-02-12", [TEA, HONEY]),
    (3, "2024-01-15", [BEER, CHIPS, SALSA]),
    (3, "2024-02-15", [BEER, CHIPS, SALSA]),
    (4, "2024-01-20", [BEER, CHIPS]),
    (4, "2024-02-20", [BEER]),
    (5, "2024-02-25", [BEER, CHIPS, SALSA]),
]


def _history():
    return temporal_split(orders=orders_from(SHOP), cut=CUT).history


def _ids(history, columns):
    return [int(history.products[c]) if c >= 0 else None for c in columns]


def _cross_sell(history, scorer, customer, k=1):
    row = int(np.searchsorted(history.customers, customer))
    rows = np.array([row])
    lists = top_k(
        scores=scorer(rows),
        owned=history.counts[rows],
        fill=history.popularity(),
        task="cross_sell",
        k=k,
    )
    return _ids(history, lists[0])


def test_personal_recommends_what_the_most_similar_customer_bought():
    history = _history()
    scorer = strategies.fit_personal(
        history=history, half_life_days=90, neighbours=1, own_weight=0.0
    )
    assert _cross_sell(history, scorer, customer=1) == [HONEY]
    assert _cross_sell(history, scorer, customer=4) == [SALSA]


def test_personal_replenishment_blends_own_recent_history_with_neighbours():
    history = _history()
    scorer = strategies.fit_personal(
        history=history, half_life_days=30, neighbours=1, own_weight=0.9
    )
    row = np.array([int(np.searchsorted(history.customers, 4))])
    lists = top_k(
        scores=scorer(row),
        owned=history.counts[row],
        fill=history.popularity(),
        task="replenishment",
        k=3,
    )
    # Beer was bought twice and most recently; chips once; nothing else is theirs.
    assert _ids(history, lists[0]) == [BEER, CHIPS, None]


def test_bought_together_follows_the_last_basket():
    history = _history()
    scorer = strategies.fit_bought_together(history=history, top_n=20, shrinkage=0.0)
    # Customer 4's last basket is beer; beer goes with salsa in three baskets.
    assert _cross_sell(history, scorer, customer=4) == [SALSA]


def test_cross_sell_never_lists_owned_products_and_fills_with_popular_ones():
    history = _history()
    scorer = baselines.fit_personal_frequency(history=history)
    listed = _cross_sell(history, scorer, customer=1, k=5)
    assert TEA not in listed and CUP not in listed
    assert listed[:2] == [BEER, CHIPS]  # the most widely bought products left
    assert listed[-1] is None  # only four products are not customer 1's


def test_replenishment_lists_only_owned_products_by_score():
    scores = np.array([[0.0, 5.0, 1.0, 9.0]])
    owned = sparse.csr_matrix(np.array([[1, 1, 1, 0]]))
    fill = np.array([3.0, 1.0, 1.0, 9.0])
    lists = top_k(scores=scores, owned=owned, fill=fill, task="replenishment", k=4)
    assert lists.tolist() == [[1, 2, 0, -1]]


def test_popularity_ranks_by_distinct_recent_customers():
    history = _history()
    scorer = baselines.fit_popularity(history=history, window_days=1e9)
    scores = scorer(np.array([0]))[0]
    assert _ids(history, np.argsort(-scores, kind="stable")[:2]) == [BEER, CHIPS]


def test_association_rules_recommend_the_consequent_of_the_last_basket():
    history = _history()
    scorer = baselines.fit_association_rules(history=history, max_products=10, source="last_basket")
    assert _cross_sell(history, scorer, customer=4) == [SALSA]


def test_implicit_item_knn_and_als_score_every_customer():
    history = _history()
    for scorer in (
        baselines.fit_item_knn(history=history, kind="cosine", neighbours=20),
        baselines.fit_item_knn(history=history, kind="bm25", neighbours=20),
        baselines.fit_als(history=history, factors=4, iterations=5, regularization=0.05),
    ):
        scores = scorer(np.arange(history.shape[0]))
        assert scores.shape == history.shape
        assert np.isfinite(scores).all()
    cosine = baselines.fit_item_knn(history=history, kind="cosine", neighbours=20)
    assert _cross_sell(history, cosine, customer=4) == [SALSA]


# Everyone buys bread. Customer 1 shares tea and cups with 2 and 3, who also buy honey;
# 4, 5 and 6 share beer and chips, and 5 and 6 also buy salsa.
BREAD = 7
DISCOVERY_SHOP = [
    (1, "2024-01-10", [TEA, CUP]),
    (2, "2024-01-11", [TEA, CUP, HONEY, BREAD]),
    (3, "2024-01-12", [TEA, CUP, HONEY, BREAD]),
    (4, "2024-01-13", [BEER, CHIPS, BREAD]),
    (5, "2024-01-14", [BEER, CHIPS, BREAD, SALSA]),
    (6, "2024-01-15", [BEER, CHIPS, BREAD, SALSA]),
]


def _discovery(history, exponent=0.5):
    return strategies.fit_discovery(
        history=history,
        half_life_days=365.0,
        neighbours=2,
        popularity_exponent=exponent,
        count_exponent=0.5,
    )


def test_discovery_prefers_what_neighbours_buy_over_what_everyone_buys():
    history = temporal_split(orders=orders_from(DISCOVERY_SHOP), cut=CUT).history
    scorer = _discovery(history)
    # Both neighbours of customer 1 bought honey and bread; bread is everyone's.
    assert _cross_sell(history, scorer, customer=1, k=2) == [HONEY, BREAD]
    # Customer 4's neighbours (5 and 6) add salsa; customer 1's tastes never reach 4.
    assert _cross_sell(history, scorer, customer=4, k=1) == [SALSA]
    row = np.array([int(np.searchsorted(history.customers, 1))])
    assert scorer(row)[0][history.products.tolist().index(SALSA)] == 0.0


def test_discovery_without_the_popularity_discount_ties_honey_and_bread():
    history = temporal_split(orders=orders_from(DISCOVERY_SHOP), cut=CUT).history
    scores = _discovery(history, exponent=0.0)(np.array([0]))[0]
    products = history.products.tolist()
    assert scores[products.index(HONEY)] == pytest.approx(scores[products.index(BREAD)])


def test_discovery_fits_on_nothing_after_the_cut():
    # After the cut, customer 4 buys tea, cups and honey, like customer 1's neighbours:
    # fitted on the split's history, customer 1's scores cannot change.
    later = [(4, "2024-03-05", [TEA, CUP, HONEY]), (1, "2024-03-06", [HONEY])]
    before = temporal_split(orders=orders_from(DISCOVERY_SHOP), cut=CUT).history
    after = temporal_split(orders=orders_from(DISCOVERY_SHOP + later), cut=CUT).history
    rows = np.arange(before.shape[0])
    assert np.array_equal(_discovery(before)(rows), _discovery(after)(rows))


def test_cross_sell_lists_positive_scores_best_first_ties_to_the_lower_column():
    # 600 products, so the ranking works over several column blocks.
    scores = np.zeros((2, 600))
    scores[0, [5, 300, 599, 42]] = [2.0, 3.0, 2.0, 1.0]
    scores[1, 7] = 1.0
    owned = sparse.csr_matrix(([1.0], ([0], [300])), shape=(2, 600))
    fill = np.arange(600, dtype=np.float64)  # the last products are the most popular
    lists = top_k(scores=scores, owned=owned, fill=fill, task="cross_sell", k=3)
    # Row 0: owned 300 is skipped, 5 and 599 tie. Row 1 is topped up by popularity.
    assert lists.tolist() == [[5, 599, 42], [7, 599, 598]]
