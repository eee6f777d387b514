import numpy as np

from aftersale.recommendations.cooccurrence import rank_bestsellers, score_pairs

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
