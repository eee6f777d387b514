import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from aftersale.recommendations.cooccurrence import PairScores, rank_bestsellers, score_pairs
from aftersale.recommendations.pair_counts import numbered

MILK, CEREAL, CHIPS, SALSA, SOAP = 1, 2, 3, 4, 5


def _lines(baskets: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    basket_ids = [b for b, items in enumerate(baskets) for _ in items]
    product_ids = [p for items in baskets for p in items]
    return np.array(basket_ids), np.array(product_ids)


def _targets(pairs, source: int) -> list[int]:
    return pairs.target[pairs.source == source].tolist()


def test_the_true_complement_outranks_a_product_in_almost_every_basket():
    baskets = (
        [[CHIPS, SALSA, MILK]] * 4
        + [[CHIPS, MILK]] * 4
        + [[MILK, SOAP]] * 30
        + [[MILK]] * 30
        + [[SALSA]] * 2
    )
    baskets_ids, product_ids = _lines(baskets)
    pairs = score_pairs(baskets=baskets_ids, products=product_ids)
    # Milk co-occurs with chips twice as often as salsa does, but it is in every basket.
    assert _targets(pairs, CHIPS)[0] == SALSA


def test_pairs_seen_in_fewer_than_min_support_baskets_are_dropped():
    baskets_ids, product_ids = _lines([[CHIPS, SALSA], [CHIPS, SALSA], [MILK, SOAP]])
    pairs = score_pairs(baskets=baskets_ids, products=product_ids, min_support=2)
    assert sorted(zip(pairs.source.tolist(), pairs.target.tolist(), strict=True)) == [
        (CHIPS, SALSA),
        (SALSA, CHIPS),
    ]
    assert pairs.support.tolist() == [2, 2]


def test_a_product_repeated_in_one_basket_counts_once():
    baskets_ids, product_ids = _lines([[CHIPS, CHIPS, SALSA], [MILK, SOAP]])
    pairs = score_pairs(baskets=baskets_ids, products=product_ids, min_support=2)
    assert len(pairs) == 0


def test_pairs_bought_together_less_than_by_chance_are_dropped():
    # Milk is in every basket: its pairs have lift exactly 1.
    baskets_ids, product_ids = _lines([[MILK, CHIPS]] * 3 + [[MILK, SOAP]] * 3)
    pairs = score_pairs(baskets=baskets_ids, products=product_ids)
    assert len(pairs) == 0


def test_each_source_keeps_only_its_top_n_targets_best_first():
    baskets = [[1, 2]] * 5 + [[1, 3]] * 4 + [[1, 4]] * 3 + [[5, 6]] * 40
    baskets_ids, product_ids = _lines(baskets)
    pairs = score_pairs(baskets=baskets_ids, products=product_ids, top_n=2)
    assert _targets(pairs, 1) == [2, 3]
    assert pairs.baskets == len(baskets)
    assert pairs.products == 6


def test_no_history_scores_no_pairs():
    empty = np.array([], dtype=np.int64)
    pairs = score_pairs(baskets=empty, products=empty)
    assert len(pairs) == 0
    assert pairs.baskets == 0


def test_bestsellers_count_distinct_customers_not_units():
    # Customer 1 buys soap ten times; three customers buy milk once each.
    ranking = rank_bestsellers(
        customers=[1] * 10 + [2, 3, 4],
        products=[SOAP] * 10 + [MILK] * 3,
        age_days=[0.0] * 13,
    )
    assert ranking.product.tolist() == [MILK, SOAP]
    assert ranking.score.tolist() == [3.0, 1.0]


def test_bestsellers_weigh_recent_buyers_more():
    ranking = rank_bestsellers(
        customers=[1, 2, 3, 4, 5],
        products=[SOAP, SOAP, SOAP, MILK, MILK],
        age_days=[365.0, 365.0, 365.0, 1.0, 1.0],
        half_life_days=90.0,
    )
    assert ranking.product.tolist() == [MILK, SOAP]


def test_a_customer_counts_at_the_date_of_their_latest_purchase():
    ranking = rank_bestsellers(customers=[1, 1], products=[SOAP, SOAP], age_days=[900.0, 0.0])
    assert ranking.score.tolist() == [1.0]


def test_a_product_in_most_baskets_tops_no_list_that_has_a_real_complement():
    baskets = (
        [[CHIPS, SALSA, MILK]] * 3
        + [[CHIPS, MILK]] * 3
        + [[CEREAL, SOAP, MILK]] * 3
        + [[CEREAL, MILK]] * 3
        + [[MILK]] * 40
        + [[SALSA], [SOAP]]
    )
    baskets_ids, product_ids = _lines(baskets)
    pairs = score_pairs(baskets=baskets_ids, products=product_ids)
    assert _targets(pairs, CHIPS)[0] == SALSA
    assert _targets(pairs, CEREAL)[0] == SOAP


def test_tied_targets_put_the_one_first_shared_in_a_later_basket_first():
    # Salsa and soap both share two baskets with chips and are in two baskets each: the
    # same score. Soap's first basket with chips comes later, so soap comes first.
    baskets_ids, product_ids = _lines(
        [[CHIPS, SALSA], [CHIPS, SALSA], [CHIPS, SOAP], [CHIPS, SOAP]] + [[MILK]] * 4
    )
    pairs = score_pairs(baskets=baskets_ids, products=product_ids)
    assert _targets(pairs, CHIPS) == [SOAP, SALSA]


def _reference_pairs(
    baskets: np.ndarray, products: np.ndarray, *, top_n: int, min_support: int, shrinkage: float
) -> PairScores:
    """score_pairs by its definition, in plain Python: every pair of products in a
    basket counted, scored, filtered and sorted, with the tie order score_pairs
    promises (products and baskets numbered by their first line; of equal scores, the
    later first shared basket, then the later-numbered product, first)."""
    basket_number: dict[int, int] = {}
    product_number: dict[int, int] = {}
    contents: dict[int, set[int]] = {}
    for basket, product in zip(baskets.tolist(), products.tolist(), strict=True):
        number = basket_number.setdefault(basket, len(basket_number))
        product_number.setdefault(product, len(product_number))
        contents.setdefault(number, set()).add(product)
    n_baskets = len(contents)
    support = Counter(p for items in contents.values() for p in items)
    shared: Counter[tuple[int, int]] = Counter()
    first: dict[tuple[int, int], int] = {}
    for number in sorted(contents):
        for a in contents[number]:
            for b in contents[number]:
                if a != b:
                    shared[a, b] += 1
                    first.setdefault((a, b), number)
    rows = []
    for a in sorted(product_number, key=product_number.__getitem__):
        scored = []
        for (source, b), s in shared.items():
            if source == a and s >= min_support and s * n_baskets > support[a] * support[b]:
                score = s / math.sqrt(float(support[a]) * support[b]) * s / (s + shrinkage)
                scored.append((-score, -first[a, b], -product_number[b], b, s))
        rows += [(a, b, -neg, s) for neg, _, _, b, s in sorted(scored)[: max(top_n, 0)]]
    return PairScores(
        source=np.array([a for a, _, _, _ in rows], dtype=np.int64),
        target=np.array([b for _, b, _, _ in rows], dtype=np.int64),
        score=np.array([score for _, _, score, _ in rows], dtype=np.float64),
        support=np.array([s for _, _, _, s in rows], dtype=np.int64),
        baskets=n_baskets,
        products=len(product_number),
    )


def _history(shape: str, seed: int, *, spread_ids: bool) -> tuple[np.ndarray, np.ndarray]:
    """(basket id, product id) lines of a generated history of the named shape, lines
    shuffled so a basket's lines are not together; with `spread_ids`, ids far apart and
    products' falling (else small numbers, as row numbers or database ids are)."""
    rng = np.random.default_rng(seed)
    if shape == "tiny":
        baskets, products = rng.integers(0, 6, 20), rng.integers(0, 5, 20)
    elif shape == "sparse":
        baskets, products = rng.integers(0, 300, 900), rng.zipf(1.3, 900) % 400
    elif shape == "huge baskets":
        baskets, products = rng.integers(0, 4, 600), rng.integers(0, 150, 600)
    elif shape == "duplicates in a basket":
        baskets = np.repeat(rng.integers(0, 40, 100), 3)
        products = np.repeat(rng.integers(0, 12, 100), 3)
    elif shape == "one basket":
        baskets, products = np.zeros(30, np.int64), rng.integers(0, 25, 30)
    elif shape == "no pairs":
        baskets, products = np.arange(50), rng.integers(0, 8, 50)
    else:  # "skewed": a few staples in most baskets, a long tail
        baskets = rng.integers(0, 200, 2000)
        products = np.where(rng.random(2000) < 0.3, rng.integers(0, 4, 2000), rng.zipf(1.5, 2000))
    order = rng.permutation(len(baskets))
    if not spread_ids:
        return baskets[order], products[order]
    return baskets[order] * 7919 + 13, products[order] * -104729 + 17


@pytest.mark.parametrize(
    "shape",
    [
        "tiny",
        "sparse",
        "huge baskets",
        "duplicates in a basket",
        "one basket",
        "no pairs",
        "skewed",
    ],
)
@pytest.mark.parametrize(
    "top_n, min_support, shrinkage",
    [(20, 2, 5.0), (1, 2, 5.0), (3, 1, 0.0), (10**6, 2, 5.0), (5, 3, 1.5), (0, 2, 5.0)],
)
@pytest.mark.parametrize(
    "seed, threads, spread_ids", [(0, 1, True), (1, 1, False), (2, 3, True), (3, 2, False)]
)
def test_score_pairs_gives_exactly_the_pairs_of_its_definition(
    shape: str,
    top_n: int,
    min_support: int,
    shrinkage: float,
    seed: int,
    threads: int,
    spread_ids: bool,
):
    baskets, products = _history(shape, seed, spread_ids=spread_ids)
    found = score_pairs(
        baskets=baskets,
        products=products,
        top_n=top_n,
        min_support=min_support,
        shrinkage=shrinkage,
        threads=threads,
    )
    expected = _reference_pairs(
        baskets, products, top_n=top_n, min_support=min_support, shrinkage=shrinkage
    )
    for field in ("source", "target", "score", "support"):
        assert getattr(found, field).dtype == getattr(expected, field).dtype, field
        assert getattr(found, field).tolist() == getattr(expected, field).tolist(), field
    assert (found.baskets, found.products) == (expected.baskets, expected.products)


@pytest.mark.parametrize(
    "values",
    [[], [7], [3, 1, 3, 2, 1], [10**12, -5, 10**12, 0], list(range(50, 0, -1)) * 2],
)
def test_numbered_numbers_values_in_order_of_first_appearance_as_pandas_does(values):
    codes, uniques = numbered(np.array(values, dtype=np.int64))
    expected_codes, expected_uniques = pd.factorize(np.array(values, dtype=np.int64))
    assert codes.tolist() == expected_codes.tolist()
    assert uniques.tolist() == expected_uniques.tolist()
    assert codes.dtype == uniques.dtype == np.int64
