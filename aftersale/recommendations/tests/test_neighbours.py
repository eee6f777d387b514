import numpy as np
import pytest

from aftersale.recommendations import neighbours

# Customer 0 buys milk every week and tried five teatime products once each. Customer 1
# also buys milk every week, and bread; customer 2 buys the same five teatime products,
# and honey. All baskets are of the same day, so recency weighs nothing.
MILK, TEA, CUP, JAM, SCONE, CREAM, HONEY, BREAD = range(8)
TEATIME = [TEA, CUP, JAM, SCONE, CREAM]
WEEKS = 4
BASKETS = [
    *[(0, [MILK]) for _ in range(WEEKS - 1)],
    (0, [MILK, *TEATIME]),
    *[(1, [MILK]) for _ in range(WEEKS - 1)],
    (1, [MILK, BREAD]),
    (2, [*TEATIME, HONEY]),
]


def _lines() -> neighbours.Lines:
    customers = [c for c, products in BASKETS for _ in products]
    products = [p for _, basket in BASKETS for p in basket]
    return neighbours.Lines(
        customers=np.array(customers, np.int64),
        products=np.array(products, np.int64),
        age_days=np.zeros(len(products)),
        shape=(3, 8),
    )


def _best_new_product(count_exponent: float) -> int:
    score = neighbours.fit_discovery(
        lines=_lines(),
        neighbours=1,
        popularity_exponent=0.0,
        half_life_days=365.0,
        count_exponent=count_exponent,
    )
    scores = score(np.array([0]))[0]
    scores[[MILK, *TEATIME]] = 0.0  # customer 0's own products
    return int(np.argmax(scores))


def test_discovery_on_plain_counts_follows_the_customer_who_shares_the_staple():
    # Milk in 4 baskets outweighs the five teatime products: cosine 0.85 against 0.45.
    assert _best_new_product(count_exponent=1.0) == BREAD


def test_discovery_with_damped_counts_follows_the_customer_who_shares_the_taste():
    # With square roots milk weighs 2, not 4: cosine 0.60 to the milk buyer against
    # 0.68 to the teatime buyer, whose honey is the pick.
    assert _best_new_product(count_exponent=0.5) == HONEY


def test_recency_vectors_raise_each_products_weighted_count_to_the_exponent():
    vectors = neighbours.recency_vectors(lines=_lines(), half_life_days=365.0, count_exponent=0.5)
    row = vectors[0].toarray()[0]
    assert row[MILK] / row[TEA] == pytest.approx(2.0)
    assert np.linalg.norm(row) == pytest.approx(1.0)
