"""Customer similarity over whole purchase histories (user-KNN, TIFU-KNN style, SIGIR
2020), in NumPy/SciPy sparse: shared by the live fit and the offline evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from threadpoolctl import threadpool_limits

from aftersale.recommendations.topk import best_of_rows

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Customers' rows in, dense customers x products scores out; higher is better.
Scorer = Callable[[IntArray], FloatArray]

# How many of the most-bought products customer similarity is measured on (see
# top_neighbours). On the Complete Journey's validation cut, discovery's hit rate@4 was
# 0.307 measured on every product and 0.300 on the top 1,000, which fit 3x faster.
TASTE_PRODUCTS = 1000
# Customers compared at once: a block's similarities to every other customer stay small.
_BLOCK = 256
# Up to this many customers top_neighbours compares every pair; above, it searches a
# faiss index (approximate_neighbours). Measured in docs/recommendations.md: at about
# 12,000 customers the exact search takes as long as the index; below, it is faster.
EXACT_MAX_CUSTOMERS = 12_000
# The index: candidates from the rows projected on this many main directions, the
# _PROBES nearest of lists of about _LIST_SIZE customers each (found by an HNSW graph
# over the lists' centres, so a query scans the same number of customers however many
# there are), _CANDIDATE_FACTOR x the neighbours kept re-scored on the whole rows
# (recall and time in docs/recommendations.md).
_PROJECTION_DIMENSIONS = 128
_LIST_SIZE = 64
_PROBES = 64
_CANDIDATE_FACTOR = 3
_SVD_SAMPLE = 200_000
# The lists' centres: two-level k-means on at most this many projected rows, this many
# iterations at each level; the HNSW graph over them (links per node, search breadth).
_CLUSTER_SAMPLE = 256_000
_CLUSTER_ITERATIONS = 10
_GRAPH_LINKS = 32
_GRAPH_SEARCH = 128
# Rows added to and searched in the index at once (dense: 16 MB for 1,000 products).
_INDEX_BLOCK = 4096
# Customers scored at once by discovery_picks (sparse rows: a few MB).
_PICK_BLOCK = 1024


@dataclass(frozen=True)
class Lines:
    """A purchase history as one entry per (basket, product), customers and products as
    row and column numbers of a `shape` (customers, products) matrix."""

    customers: IntArray
    products: IntArray
    age_days: FloatArray
    shape: tuple[int, int]


def fit_discovery(
    *,
    lines: Lines,
    neighbours: int,
    popularity_exponent: float,
    half_life_days: float,
    count_exponent: float = 1.0,
) -> Scorer:
    """Scores for products new to each customer, from their nearest customers.

    A product scores the similarity-weighted share of the `neighbours` who ever bought
    it, divided by (customers who bought it) ^ `popularity_exponent`, which tempers what
    every neighbour buys anyway (milk, bananas) and the customer has likely passed on.
    Customers are compared on recency_vectors with `count_exponent`. Owned products
    score too: callers filter them.
    """
    similar, bought, discount = _discovery_model(
        lines=lines,
        neighbours=neighbours,
        popularity_exponent=popularity_exponent,
        half_life_days=half_life_days,
        count_exponent=count_exponent,
    )

    def score(rows: IntArray) -> FloatArray:
        return np.asarray((similar[rows] @ bought).toarray()) * discount

    return score


@dataclass(frozen=True)
class Picks:
    """Each customer's best products: one (row, column, score) per pick, rows ascending
    and each row's picks best first; and the neighbour weights they came from
    (top_neighbours)."""

    rows: IntArray
    columns: IntArray
    scores: npt.NDArray[np.float32]
    similar: sparse.csr_matrix


# Progress of discovery_picks: the step ("neighbours" or "picks") and customers done.
Progress = Callable[[str, int], None]


def discovery_picks(
    *,
    lines: Lines,
    per_customer: int,
    neighbours: int,
    popularity_exponent: float,
    half_life_days: float,
    count_exponent: float = 1.0,
    exact: bool | None = None,
    progress: Progress | None = None,
    threads: int = 1,
) -> Picks:
    """Each customer's `per_customer` best products by fit_discovery's scores among those
    scoring above zero that they never bought (ties: lower column first).

    Scored a block of customers at a time on sparse rows (a customer's candidates are
    what their neighbours bought, not the whole catalog), so time and memory grow with
    the customers and their purchases. `exact`, `progress` and `threads` as in
    top_neighbours, `progress` told which step the customers are done in."""
    report = progress or (lambda step, done: None)
    similar, bought, discount = _discovery_model(
        lines=lines,
        neighbours=neighbours,
        popularity_exponent=popularity_exponent,
        half_life_days=half_life_days,
        count_exponent=count_exponent,
        exact=exact,
        progress=lambda done: report("neighbours", done),
        indexed=lambda done: report("index", done),
        threads=threads,
    )
    n = lines.shape[0]
    found_rows, found_columns, found_scores = [], [], []
    for start in range(0, n, _PICK_BLOCK):
        block = np.arange(start, min(start + _PICK_BLOCK, n))
        scores = sparse.csr_matrix(similar[block] @ bought)
        scores.data *= discount[scores.indices]
        # Owned products (the pattern of `bought`) drop out, then each row's best.
        scores = sparse.csr_matrix(scores - scores.multiply(bought[block]))
        row, column, value = best_of_rows(scores, per_customer)
        found_rows.append(block[row])
        found_columns.append(column)
        found_scores.append(value)
        report("picks", len(block))
    return Picks(
        rows=np.concatenate(found_rows) if found_rows else np.empty(0, np.int64),
        columns=np.concatenate(found_columns) if found_columns else np.empty(0, np.int64),
        scores=np.concatenate(found_scores) if found_scores else np.empty(0, np.float32),
        similar=similar,
    )


def _discovery_model(
    *,
    lines: Lines,
    neighbours: int,
    popularity_exponent: float,
    half_life_days: float,
    count_exponent: float,
    exact: bool | None = None,
    progress: Callable[[int], None] | None = None,
    indexed: Callable[[int], None] | None = None,
    threads: int = 1,
) -> tuple[sparse.csr_matrix, sparse.csr_matrix, npt.NDArray[np.float32]]:
    """Discovery's parts: the customers x customers neighbour weights, the customers x
    products matrix of what each bought (1.0), and each product's popularity
    discount."""
    vectors = recency_vectors(
        lines=lines, half_life_days=half_life_days, count_exponent=count_exponent
    )
    similar = top_neighbours(
        vectors=vectors,
        neighbours=neighbours,
        exact=exact,
        progress=progress,
        indexed=indexed,
        threads=threads,
    )
    bought = sparse.csr_matrix(vectors > 0, dtype=np.float32)
    del vectors
    buyers = np.bincount(bought.indices, minlength=lines.shape[1]).astype(np.float32)
    discount = np.power(np.maximum(buyers, 1.0), -popularity_exponent, dtype=np.float32)
    return similar, bought, discount


def recency_vectors(
    *, lines: Lines, half_life_days: float, count_exponent: float = 1.0
) -> sparse.csr_matrix:
    """Customers x products, float32: the baskets holding the product, each weighted
    0.5^(age / half-life), summed and raised to `count_exponent`; rows L2-normalised.

    An exponent below 1 damps the staples a customer buys every week, which otherwise
    outweigh the rest of their taste: with 0.5, milk in 16 baskets counts 4 times a
    product bought once, not 16 times. On three validation cuts before the Complete
    Journey's test cut, discovery's hit rate@4 averaged 0.346 with 0.5 against 0.333
    with 1 (the plain recency-weighted counts)."""
    weight = np.power(0.5, lines.age_days / half_life_days, dtype=np.float32)
    vectors = sparse.csr_matrix(
        (weight, (lines.customers, lines.products)), shape=lines.shape, dtype=np.float32
    )
    if count_exponent != 1.0:
        vectors.data = np.power(vectors.data, count_exponent, dtype=np.float32)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    # Each row scaled in place: the same float32 products as multiplying by a diagonal
    # matrix, without a sparse product (a fifth of this function's time).
    scale = (1.0 / np.maximum(norms, 1e-12)).astype(np.float32)
    vectors.data *= np.repeat(scale, np.diff(vectors.indptr))
    vectors.eliminate_zeros()
    return vectors


def top_neighbours(
    *,
    vectors: sparse.csr_matrix,
    neighbours: int,
    exact: bool | None = None,
    progress: Callable[[int], None] | None = None,
    indexed: Callable[[int], None] | None = None,
    threads: int = 1,
) -> sparse.csr_matrix:
    """Customers x customers: each row's `neighbours` largest similarities to other
    customers, rows summing to one.

    Similarity is the dot product of the customers' vectors restricted to the
    TASTE_PRODUCTS most-bought products (the norms stay those of the whole vectors): a
    product over them costs a fraction of one over every product, and loses little.
    Up to EXACT_MAX_CUSTOMERS customers (or with `exact=True`) every pair is compared;
    above (or with `exact=False`) approximate_neighbours finds them, so the time grows
    with the customers, not their square. Never holds a customers x customers matrix.
    `progress` is called with the number of customers done since its last call, and
    `indexed` likewise with the customers added to the index (approximate search only).
    The search runs on `threads` threads (faiss's and BLAS's): 1 on a shared machine,
    where a second thread waits for a core; settings.FIT_THREADS in the daily fit."""
    n = vectors.shape[0]
    keep = max(min(neighbours, n - 1), 1)
    taste = taste_vectors(vectors)
    if exact is None:
        exact = n <= EXACT_MAX_CUSTOMERS
    if exact or n <= keep + 1:
        chosen, weight = _exact_neighbours(
            taste=taste, keep=keep, progress=progress or _ignore, threads=threads
        )
    else:
        chosen, weight = approximate_neighbours(
            taste=taste,
            keep=keep,
            progress=progress or _ignore,
            indexed=indexed or _ignore,
            threads=threads,
        )
    weight = np.maximum(weight, 0.0)
    weight /= np.maximum(weight.sum(axis=1, keepdims=True), 1e-12)
    # Every row holds exactly `keep` neighbours, so the CSR arrays are built directly.
    return sparse.csr_matrix(
        (weight.ravel(), chosen.ravel(), np.arange(n + 1, dtype=np.int64) * keep), shape=(n, n)
    )


def taste_vectors(vectors: sparse.csr_matrix) -> sparse.csr_matrix:
    """The columns of `vectors` that top_neighbours compares customers on: the
    TASTE_PRODUCTS bought by most customers (ties: lower column first)."""
    buyers = np.bincount(vectors.indices, minlength=vectors.shape[1])
    return sparse.csr_matrix(vectors[:, np.argsort(-buyers, kind="stable")[:TASTE_PRODUCTS]])


def _ignore(done: int) -> None:
    """A progress callback that reports nowhere."""


def _exact_neighbours(
    *,
    taste: sparse.csr_matrix,
    keep: int,
    progress: Callable[[int], None] = _ignore,
    threads: int = 1,
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """Each customer's `keep` most similar other customers and their similarities, every
    pair compared: one dense product per block of rows on `threads` BLAS threads."""
    n = taste.shape[0]
    dense = taste.toarray()
    chosen = np.empty((n, keep), np.int64)
    weight = np.empty((n, keep), np.float32)
    # On the busy 2-core machine a second thread waits for a core and the product takes
    # twice as long; on an idle one two threads save only a fifth.
    with threadpool_limits(threads, "blas"):
        for start in range(0, n, _BLOCK):
            rows = np.arange(start, min(start + _BLOCK, n))
            similarity = dense[rows] @ dense.T
            similarity[np.arange(len(rows)), rows] = 0.0
            best = np.argpartition(-similarity, keep - 1, axis=1)[:, :keep]
            chosen[rows] = best
            weight[rows] = np.take_along_axis(similarity, best, axis=1)
            progress(len(rows))
    return chosen, weight


def approximate_neighbours(
    *,
    taste: sparse.csr_matrix,
    keep: int,
    progress: Callable[[int], None] = _ignore,
    indexed: Callable[[int], None] = _ignore,
    threads: int = 1,
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """Each customer's `keep` most similar other customers (dot products of the rows of
    `taste`) and their similarities, found with a faiss index instead of every pair.

    Candidates come from an inverted-file index (IndexIVFFlat, inner product) over the
    rows projected on their _PROJECTION_DIMENSIONS main directions (an uncentred SVD,
    which keeps dot products), in lists of about _LIST_SIZE customers reached through an
    HNSW graph (_inverted_file), so a query costs the same at any number of customers;
    the _CANDIDATE_FACTOR x `keep` best of the _PROBES nearest lists are then re-scored
    on the whole rows, stored as 8-bit codes (IndexRefine). Rows
    go in and out a block at a time, so memory is a few bytes per customer and taste
    product, never customers x customers; recall against the exact search is measured in
    docs/recommendations.md and by benchmarks/fit.py. `progress` and `indexed` are told
    the customers searched and added since their last call."""
    import faiss

    n, width = taste.shape
    dimensions = min(_PROJECTION_DIMENSIONS, width)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, threads))
    try:
        directions = _main_directions(taste, dimensions)
        transform = faiss.LinearTransform(width, dimensions, False)
        faiss.copy_array_to_vector(directions.T.ravel(), transform.A)
        transform.is_trained = True
        rng = np.random.default_rng(0)
        sample = np.sort(rng.permutation(n)[: min(n, _CLUSTER_SAMPLE)])
        ivf = _inverted_file(
            np.ascontiguousarray(taste[sample] @ directions, dtype=np.float32),
            lists=max(1, min(n // _LIST_SIZE, len(sample) // 4)),
        )
        base = faiss.IndexPreTransform(transform, ivf)
        codes = faiss.IndexScalarQuantizer(
            width, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        codes.train(taste[sample[:_INDEX_BLOCK]].toarray())
        index = faiss.IndexRefine(base, codes)
        index.k_factor = _CANDIDATE_FACTOR
        for start in range(0, n, _INDEX_BLOCK):
            block = taste[start : start + _INDEX_BLOCK]
            index.add(block.toarray())
            indexed(block.shape[0])
        chosen = np.empty((n, keep), np.int64)
        weight = np.empty((n, keep), np.float32)
        for start in range(0, n, _INDEX_BLOCK):
            stop = min(start + _INDEX_BLOCK, n)
            found_weight, found = index.search(taste[start:stop].toarray(), keep + 1)
            chosen[start:stop], weight[start:stop] = _others(
                found, found_weight, rows=np.arange(start, stop), keep=keep
            )
            progress(stop - start)
    finally:
        faiss.omp_set_num_threads(threads)
    return chosen, weight


def _inverted_file(sample: npt.NDArray[np.float32], *, lists: int) -> Any:
    """An empty faiss IndexIVFFlat (inner product) of `lists` lists whose centres are
    found by two-level k-means on the projected `sample` rows (sqrt(lists) coarse
    clusters, each split in proportion to its rows: far cheaper than one k-means of
    `lists` centres at a million customers), normalised so that a row goes to the centre
    it points most along, and reached through an HNSW graph so that finding a query's
    _PROBES nearest lists costs about log(lists), not `lists`."""
    import faiss

    dimensions = sample.shape[1]
    centres = np.ascontiguousarray(_two_level_centres(sample, lists=lists), dtype=np.float32)
    faiss.normalize_L2(centres)
    coarse = faiss.IndexHNSWFlat(dimensions, _GRAPH_LINKS, faiss.METRIC_INNER_PRODUCT)
    coarse.hnsw.efSearch = max(_GRAPH_SEARCH, _PROBES)
    coarse.add(centres)
    ivf = faiss.IndexIVFFlat(coarse, dimensions, len(centres), faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    ivf.nprobe = min(_PROBES, len(centres))
    return ivf


def _two_level_centres(sample: npt.NDArray[np.float32], *, lists: int) -> npt.NDArray[np.float32]:
    """About `lists` k-means centres of the `sample` rows (fewer when the sample is
    small): sqrt(lists) coarse clusters first, then each split into a share of `lists`
    in proportion to its rows (faiss.contrib.clustering's two-level scheme, with fewer
    iterations and no console output)."""
    import faiss

    n, dimensions = sample.shape
    lists = max(1, min(lists, n))
    if lists == 1:
        return np.asarray(sample.mean(axis=0, keepdims=True), dtype=np.float32)

    def kmeans(rows: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float32]:
        if k >= len(rows):
            return rows
        means = faiss.Kmeans(
            dimensions,
            k,
            niter=_CLUSTER_ITERATIONS,
            seed=1,
            min_points_per_centroid=1,
            max_points_per_centroid=2000,
        )
        means.train(np.ascontiguousarray(rows))
        return np.asarray(means.centroids, dtype=np.float32)

    coarse = kmeans(sample, max(1, int(np.sqrt(lists))))
    index = faiss.IndexFlatL2(dimensions)
    index.add(coarse)
    owner = index.search(sample, 1)[1].ravel()
    sizes = np.bincount(owner, minlength=len(coarse))
    shares = np.diff(np.r_[0, np.cumsum(sizes) * lists // n])
    found = [
        kmeans(sample[owner == group], int(share))
        for group, share in enumerate(shares.tolist())
        if share > 0 and sizes[group] > 0
    ]
    return np.concatenate(found) if found else coarse


def _main_directions(taste: sparse.csr_matrix, dimensions: int) -> npt.NDArray[np.float32]:
    """The `dimensions` leading right singular vectors of `taste` (columns of a width x
    dimensions matrix), from the eigenvectors of its width x width Gram matrix over at
    most _SVD_SAMPLE rows; not centred, so projected dot products approximate the
    rows' own."""
    n = taste.shape[0]
    rows = np.sort(np.random.default_rng(0).permutation(n)[:_SVD_SAMPLE])
    sample = taste[rows]
    gram = np.asarray((sample.T @ sample).toarray(), dtype=np.float64)
    _, vectors = np.linalg.eigh(gram)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dimensions], dtype=np.float32)


def _others(
    found: npt.NDArray[np.int64],
    found_weight: npt.NDArray[np.float32],
    *,
    rows: IntArray,
    keep: int,
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """The index's `keep` + 1 answers per row without the row itself (or without the
    last answer when the row is not among them); a missing answer (-1) becomes the row
    itself with weight 0, which scores nothing."""
    own = found == rows[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), keep)
    mask = np.ones(found.shape, bool)
    mask[np.arange(len(rows)), drop] = False
    chosen = found[mask].reshape(len(rows), keep)
    weight = found_weight[mask].reshape(len(rows), keep)
    missing = chosen < 0
    chosen = np.where(missing, rows[:, None], chosen)
    return chosen, np.where(missing, 0.0, weight).astype(np.float32)
