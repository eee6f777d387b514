import numpy as np
import pytest
from scipy import sparse

from aftersale.recommendations.evaluation.bootstrap import paired_ratio_interval
from aftersale.recommendations.evaluation.data import temporal_split
from aftersale.recommendations.evaluation.metrics import (
    coverage,
    intra_list_diversity,
    relevance,
    score_lists,
)
from aftersale.recommendations.tests.evaluation_fixtures import CUT, orders_from


def test_hit_recall_and_ndcg_of_hand_made_lists():
    relevant = sparse.csr_matrix(np.array([[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]))
    lists = np.array([[1, 0, 3], [2, 3, 4], [4, 0, -1]])
    scores = score_lists(lists=lists, relevant=relevant, n_relevant=np.array([2, 1, 4]))
    assert scores.hit.tolist() == [1.0, 0.0, 1.0]
    assert scores.recall.tolist() == [1.0, 0.0, 0.25]
    d = 1 / np.log2(np.arange(2, 5))
    assert scores.ndcg == pytest.approx([(d[0] + d[2]) / (d[0] + d[1]), 0.0, d[1] / d.sum()])


def test_coverage_counts_distinct_listed_products_over_the_catalog():
    assert coverage(lists=np.array([[0, 1], [1, -1]]), n_products=4) == 0.5


def test_intra_list_diversity_is_one_minus_the_buyers_cosine_of_each_listed_pair():
    # Products 0 and 1 share both their buyers, 2 is bought by someone else alone.
    counts = sparse.csr_matrix(np.array([[1, 2, 0], [1, 1, 0], [0, 0, 3]]))
    same_buyers = intra_list_diversity(lists=np.array([[0, 1]]), counts=counts)
    apart = intra_list_diversity(lists=np.array([[0, 2]]), counts=counts)
    assert (same_buyers, apart) == (pytest.approx(0.0), 1.0)
    # Three products: pairs (0, 1), (0, 2), (1, 2) give 0, 1, 1; a padded pair is left
    # out, and a user with a single product is not scored.
    assert intra_list_diversity(
        lists=np.array([[0, 1, 2], [0, 1, -1], [2, -1, -1]]), counts=counts
    ) == pytest.approx((2 / 3 + 0.0) / 2)
    assert np.isnan(intra_list_diversity(lists=np.array([[1, -1]]), counts=counts))


def test_cross_sell_counts_new_products_and_replenishment_owned_ones():
    split = temporal_split(
        orders=orders_from(
            [
                (1, "2024-01-01", [10, 11]),
                (2, "2024-01-01", [12]),
                (1, "2024-03-02", [10, 12, 99]),
                (2, "2024-03-02", [12]),
            ]
        ),
        cut=CUT,
    )
    cross = relevance(split=split, task="cross_sell")
    again = relevance(split=split, task="replenishment")
    assert cross.users.tolist() == [0]  # customer 2 bought nothing new
    assert cross.relevant.toarray().tolist() == [[0, 0, 1]]
    assert cross.n_relevant.tolist() == [2]  # 12 and the never-seen 99
    assert again.users.tolist() == [0, 1]
    assert again.relevant.toarray().tolist() == [[1, 0, 0], [0, 0, 1]]


def test_bootstrap_ratio_of_identical_methods_is_exactly_one():
    a = np.array([1.0, 0.0, 1.0, 1.0])
    interval = paired_ratio_interval(a=a, b=a.copy())
    assert (interval.ratio, interval.low, interval.high) == (1.0, 1.0, 1.0)


def test_bootstrap_interval_brackets_a_clear_lift_and_is_reproducible():
    rng = np.random.default_rng(3)
    b = (rng.random(2000) < 0.2).astype(float)
    a = np.maximum(b, (rng.random(2000) < 0.1).astype(float))
    first = paired_ratio_interval(a=a, b=b)
    assert 1.0 < first.low < first.ratio < first.high
    assert paired_ratio_interval(a=a, b=b) == first
