import numpy as np
import pytest
from scipy import sparse

from aftersale.recommendations import neighbours
from aftersale.recommendations.topk import best_of_rows

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


def _shoppers(customers: int, seed: int = 0) -> neighbours.Lines:
    """Customers of 40 tastes: each buys about 12 of their taste's 30 products (of 600),
    and a few products at random, in baskets of varied age."""
    rng = np.random.default_rng(seed)
    tastes = rng.integers(0, 600, size=(40, 30))
    rows, products = [], []
    for customer in range(customers):
        taste = tastes[rng.integers(40)]
        bought = [*rng.choice(taste, 12), *rng.integers(0, 600, 3)]
        rows += [customer] * len(bought)
        products += bought
    return neighbours.Lines(
        customers=np.array(rows, np.int64),
        products=np.array(products, np.int64),
        age_days=rng.uniform(0, 365, len(products)),
        shape=(customers, 600),
    )


def test_the_index_finds_nine_in_ten_of_the_exact_nearest_customers():
    vectors = neighbours.recency_vectors(lines=_shoppers(3000), half_life_days=120.0)
    exact = neighbours.top_neighbours(vectors=vectors, neighbours=50, exact=True)
    found = neighbours.top_neighbours(vectors=vectors, neighbours=50, exact=False)
    rows = range(vectors.shape[0])
    shared = [len(set(exact[r].indices) & set(found[r].indices)) for r in rows]
    assert np.mean(shared) / 50 >= 0.9
    assert np.diff(found.indptr).tolist() == [50] * 3000
    assert not any(r in set(found[r].indices) for r in rows)  # never a customer's own
    assert np.allclose(np.asarray(found.sum(axis=1)).ravel(), 1.0)


def test_top_neighbours_searches_the_index_above_the_exact_limit(monkeypatch):
    vectors = neighbours.recency_vectors(lines=_shoppers(400), half_life_days=120.0)
    told: list[int] = []
    added: list[int] = []
    monkeypatch.setattr(neighbours, "EXACT_MAX_CUSTOMERS", 100)
    monkeypatch.setattr(neighbours, "_exact_neighbours", None)  # would raise if called
    neighbours.top_neighbours(
        vectors=vectors, neighbours=20, progress=told.append, indexed=added.append
    )
    assert sum(told) == 400
    assert sum(added) == 400


def test_discovery_picks_are_each_customers_best_unowned_products_by_the_scorer():
    lines = _shoppers(500, seed=1)
    picks = neighbours.discovery_picks(
        lines=lines, per_customer=5, neighbours=30, popularity_exponent=0.2, half_life_days=120.0
    )
    scorer = neighbours.fit_discovery(
        lines=lines, neighbours=30, popularity_exponent=0.2, half_life_days=120.0
    )
    scores = scorer(np.arange(500))
    scores[lines.customers, lines.products] = 0.0
    for row in (0, 17, 499):
        mine = picks.columns[picks.rows == row]
        expected = sorted(np.flatnonzero(scores[row] > 0), key=lambda c: (-scores[row, c], c))
        assert mine.tolist() == expected[:5]
        assert np.allclose(picks.scores[picks.rows == row], scores[row, mine])
    assert np.all(np.diff(picks.rows) >= 0)


def test_best_of_rows_keeps_each_rows_best_stored_scores_as_the_dense_top_k_does():
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 4, size=(60, 300)).astype(np.float32) * (rng.random((60, 300)) < 0.3)
    for k in (1, 5, 40):
        rows, columns, values = best_of_rows(sparse.csr_matrix(dense), k)
        for row in range(60):
            expected = sorted(np.flatnonzero(dense[row] > 0), key=lambda c: (-dense[row, c], c))
            assert columns[rows == row].tolist() == expected[:k]  # ties: lower column first
    assert np.array_equal(values, dense[rows, columns])


def test_the_index_lists_keep_their_size_as_the_customers_grow():
    rng = np.random.default_rng(3)
    for rows in (640, 6400):
        sample = rng.normal(size=(rows, 16)).astype(np.float32)
        centres = neighbours._two_level_centres(sample, lists=rows // 64)
        assert abs(len(centres) - rows // 64) <= 1  # lists of about 64 rows, not sqrt(n)


def test_the_index_serves_a_tiny_store_in_one_list():
    lines = _shoppers(12, seed=2)
    vectors = neighbours.recency_vectors(lines=lines, half_life_days=120.0)
    exact = neighbours.top_neighbours(vectors=vectors, neighbours=5, exact=True)
    found = neighbours.top_neighbours(vectors=vectors, neighbours=5, exact=False)
    assert np.diff(found.indptr).tolist() == [5] * 12
    assert not any(r in set(found[r].indices) for r in range(12))
    # One list holds everyone, so the index compares every pair: each clear neighbour of
    # the exact search is found (the weights differ a little: 8-bit codes).
    for r in range(12):
        assert set(exact[r].indices[exact[r].data > 0.1]) <= set(found[r].indices)


def test_the_index_serves_a_sparse_store_of_one_product_customers():
    # A gift shop: 2,000 customers, most of whom bought one product once.
    rng = np.random.default_rng(4)
    customers = np.r_[np.arange(2000), rng.integers(0, 2000, 300)]
    lines = neighbours.Lines(
        customers=customers.astype(np.int64),
        products=rng.integers(0, 400, len(customers)).astype(np.int64),
        age_days=rng.uniform(0, 365, len(customers)),
        shape=(2000, 400),
    )
    picks = neighbours.discovery_picks(
        lines=lines,
        per_customer=4,
        neighbours=30,
        popularity_exponent=0.2,
        half_life_days=120.0,
        exact=False,
    )
    exact = neighbours.discovery_picks(
        lines=lines,
        per_customer=4,
        neighbours=30,
        popularity_exponent=0.2,
        half_life_days=120.0,
        exact=True,
    )
    assert np.diff(picks.similar.indptr).tolist() == [30] * 2000
    # Every customer the exact search finds picks for gets picks from the index too.
    assert set(exact.rows.tolist()) <= set(picks.rows.tolist())
    owned = set(zip(lines.customers.tolist(), lines.products.tolist(), strict=True))
    assert not owned & set(zip(picks.rows.tolist(), picks.columns.tolist(), strict=True))
