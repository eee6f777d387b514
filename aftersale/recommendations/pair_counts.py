"""The loops of cooccurrence.score_pairs, compiled with numba: counting the baskets each
pair of products shares without ever holding the pairs seen once.

On the Complete Journey the baskets hold 36 million (product, product) occurrences, 23
million distinct pairs, of which 4.5 million are seen in two baskets or more: the sparse
product XᵀX wrote all 23 million, and sorting the survivors took as long again (3 s in
all, against 0.3 s here). Each source product is counted in a dense scratch array,
its targets scored and its best kept before the next source, so memory is the lines and
the pairs kept, never products x products.

Compiled on first use (about 6 s) and cached beside this file (`cache=True`); a fresh
process still spends 0.4 s on them, importing numba and loading the cache on the first
call (1.3 s where Python's bytecode is not cached, as PYTHONDONTWRITEBYTECODE prevents).
Imported by score_pairs when it runs, so only processes that mine pairs pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# The loops index with unsigned 32-bit numbers: numba checks signed indexes for
# wraparound, which kept them from vectorising (twice as slow on the counting loop).
Index = npt.NDArray[np.uint32]
Scalar = TypeVar("Scalar", bound=np.generic)
Function = TypeVar("Function", bound=Callable[..., Any])


def _compiled(function: Function) -> Function:
    """`function` compiled by numba in nopython mode, cached beside this file, releasing
    the GIL; typed as the function itself (numba's dispatcher hides its signature)."""
    return cast(Function, numba.njit(cache=True, nogil=True)(function))


def numbered(values: IntArray) -> tuple[IntArray, IntArray]:
    """(number of each value, the values numbered) as pandas.factorize gives them:
    numbers from 0 in the order of first appearance. By a lookup table when the values
    span at most a few times as many numbers as there are values (row numbers, database
    ids: 6-10 ms for a million), else by pandas' hash table (20 ms)."""
    if not len(values):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low > 4 * len(values) + 1024:
        codes, uniques = pd.factorize(values)
        return np.asarray(codes, np.int64), np.asarray(uniques, np.int64)
    return _numbered(values, low, high - low + 1)


@_compiled
def _numbered(values: IntArray, low: int, span: int) -> tuple[IntArray, IntArray]:
    """numbered's lookup table: `span` slots from the value `low`."""
    number = np.full(span, -1, np.int64)
    codes = np.empty(len(values), np.int64)
    uniques = np.empty(len(values), np.int64)
    found = 0
    for i in range(len(values)):
        slot = values[i] - low
        if number[slot] < 0:
            number[slot] = found
            uniques[found] = values[i]
            found += 1
        codes[i] = number[slot]
    return codes, uniques[:found].copy()


@dataclass(frozen=True)
class Baskets:
    """A history's lines indexed both ways (index_baskets)."""

    basket_start: Index
    items: Index
    product_start: Index
    baskets_of: Index
    support: IntArray


def index_baskets(
    *, basket: IntArray, product: IntArray, n_baskets: int, n_products: int, min_support: int
) -> Baskets:
    """The lines as (basket start, products of each basket) and (product start, baskets
    of each product, ascending), each product once per basket, products in fewer than
    `min_support` baskets left out (they can be in no kept pair); and every product's
    basket count (those left out included). `basket[i]` and `product[i]` are line i's
    basket and product numbers, from 0; fewer than 2**32 lines (32-bit indexes)."""
    if len(basket) >= 2**32:
        raise ValueError(f"{len(basket)} lines: pair_counts indexes at most 2**32 - 1")
    return Baskets(*_index(basket, product, n_baskets, n_products, min_support))


def best_pairs(
    baskets: Baskets,
    *,
    n_baskets: int,
    top_n: int,
    min_support: int,
    shrinkage: float,
    threads: int = 1,
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """(source, target, score, shared baskets) of each source's `top_n` best targets,
    sources ascending and each one's best first, as cooccurrence.score_pairs defines
    them. Ties: the target whose first basket shared with the source is later, then the
    higher target number, comes first (the order XᵀX's sparse product gave).

    On `threads` threads, each a run of sources with about as many lines to visit (the
    loops release the GIL): on the Complete Journey, 0.24 s on one and 0.12 s on two."""
    bounds = _runs_of_equal_work(baskets, max(threads, 1))

    def run(part: int) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        return _best_pairs(
            baskets.basket_start,
            baskets.items,
            baskets.product_start,
            baskets.baskets_of,
            baskets.support,
            n_baskets,
            top_n,
            min_support,
            shrinkage,
            bounds[part],
            bounds[part + 1],
        )

    if len(bounds) == 2:
        return run(0)
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        parts = list(pool.map(run, range(len(bounds) - 1)))
    source, target, score, shared = (np.concatenate(column) for column in zip(*parts, strict=True))
    return source, target, score, shared


def _runs_of_equal_work(baskets: Baskets, runs: int) -> list[int]:
    """Source boundaries 0 = b0 <= b1 <= ... = products cutting the sources into `runs`
    runs with about as many lines to visit (the sizes of the sources' baskets)."""
    n_products = len(baskets.support)
    if runs == 1:
        return [0, n_products]
    sizes = np.diff(baskets.basket_start.astype(np.int64))
    visited = np.r_[0, np.cumsum(sizes[baskets.baskets_of])]
    before = visited[baskets.product_start.astype(np.int64)]
    cuts = np.searchsorted(before, before[-1] * np.arange(1, runs) / runs)
    return [0, *cuts.tolist(), n_products]


@_compiled
def _index(
    basket: IntArray, product: IntArray, n_baskets: int, n_products: int, min_support: int
) -> tuple[Index, Index, Index, Index, IntArray]:
    """index_baskets' arrays, in its order: counting sorts, O(lines + baskets + products)."""
    n_lines = len(basket)
    basket_start = np.zeros(n_baskets + 1, np.uint32)
    for i in range(n_lines):
        basket_start[basket[i] + 1] += 1
    for b in range(n_baskets):
        basket_start[b + 1] += basket_start[b]
    slot = basket_start[:-1].copy()
    items = np.empty(n_lines, np.uint32)
    for i in range(n_lines):
        items[slot[basket[i]]] = product[i]
        slot[basket[i]] += 1
    # A product repeated in a basket counts once: `seen` holds the last basket + 1.
    seen = np.zeros(n_products, np.int64)
    support = np.zeros(n_products, np.int64)
    for b in range(n_baskets):
        for q in range(basket_start[b], basket_start[b + 1]):
            p = items[q]
            if seen[p] != b + 1:
                seen[p] = b + 1
                support[p] += 1
    # Kept lines, once each, by basket then by product (baskets ascending).
    kept_start = np.zeros(n_baskets + 1, np.uint32)
    product_start = np.zeros(n_products + 1, np.uint32)
    seen[:] = 0
    w = 0
    for b in range(n_baskets):
        for q in range(basket_start[b], basket_start[b + 1]):
            p = items[q]
            if seen[p] != b + 1 and support[p] >= min_support:
                seen[p] = b + 1
                items[w] = p
                w += 1
                product_start[p + 1] += 1
        kept_start[b + 1] = w
    for p in range(n_products):
        product_start[p + 1] += product_start[p]
    slot = product_start[:-1].copy()
    baskets_of = np.empty(w, np.uint32)
    for b in range(n_baskets):
        for q in range(kept_start[b], kept_start[b + 1]):
            p = items[q]
            baskets_of[slot[p]] = b
            slot[p] += 1
    return kept_start, items[:w].copy(), product_start, baskets_of, support


@_compiled
def _best_pairs(
    basket_start: Index,
    items: Index,
    product_start: Index,
    baskets_of: Index,
    support: IntArray,
    n_baskets: int,
    top_n: int,
    min_support: int,
    shrinkage: float,
    first_source: int,
    end_source: int,
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """best_pairs for the sources first_source..end_source - 1."""
    n_products = len(support)
    floor = max(min_support, 1)
    keep = max(min(top_n, n_products), 0)
    count = np.zeros(n_products, np.uint32)
    # One source's candidates: score, first shared basket, target, shared baskets.
    score = np.empty(n_products, np.float64)
    first = np.empty(n_products, np.int64)
    target = np.empty(n_products, np.int64)
    shared = np.empty(n_products, np.int64)
    ranked = np.empty(n_products, np.int64)
    size = 0
    out_source = np.empty(1024, np.int64)
    out_target = np.empty(1024, np.int64)
    out_score = np.empty(1024, np.float64)
    out_shared = np.empty(1024, np.int64)
    for a in range(first_source, end_source if keep else first_source):
        n_a = support[a]
        start, stop = product_start[a], product_start[a + 1]
        for j in range(start, stop):
            b = baskets_of[j]
            for q in range(basket_start[b], basket_start[b + 1]):
                count[items[q]] += 1
        # The second walk meets each target first in the first basket it shares with
        # `a` (baskets ascending) and takes its count there, leaving 0 for later visits;
        # this beats listing the targets as the first walk meets them (a branch taken
        # at random on every line).
        found = 0
        for j in range(start, stop):
            b = baskets_of[j]
            for q in range(basket_start[b], basket_start[b + 1]):
                t = items[q]
                s = count[t]
                count[t] = 0
                if s >= floor and t != a and s * n_baskets > n_a * support[t]:
                    # As cooccurrence's NumPy formula, operation for operation, so the
                    # scores are the same to the bit.
                    together = np.float64(s)
                    cosine = together / np.sqrt(np.float64(n_a) * np.float64(support[t]))
                    score[found] = cosine * together / (together + shrinkage)
                    first[found] = b
                    target[found] = t
                    shared[found] = s
                    found += 1
        chosen = _best_first(score, first, target, found, keep, ranked)
        if size + chosen > len(out_source):
            grown = max(2 * len(out_source), size + chosen)
            out_source = _resized(out_source, grown)
            out_target = _resized(out_target, grown)
            out_score = _resized(out_score, grown)
            out_shared = _resized(out_shared, grown)
        for r in range(chosen):
            i = ranked[r]
            out_source[size + r] = a
            out_target[size + r] = target[i]
            out_score[size + r] = score[i]
            out_shared[size + r] = shared[i]
        size += chosen
    return (
        out_source[:size].copy(),
        out_target[:size].copy(),
        out_score[:size].copy(),
        out_shared[:size].copy(),
    )


@_compiled
def _ahead(score: FloatArray, first: IntArray, target: IntArray, i: int, j: int) -> bool:
    """Candidate i ranks before j: higher score, then later first basket, then higher
    target (a strict order: one source meets each target once)."""
    if score[i] != score[j]:
        return bool(score[i] > score[j])
    if first[i] != first[j]:
        return bool(first[i] > first[j])
    return bool(target[i] > target[j])


@_compiled
def _best_first(
    score: FloatArray, first: IntArray, target: IntArray, found: int, keep: int, ranked: IntArray
) -> int:
    """How many of the `found` candidates are kept (at most `keep`), their indexes in
    `ranked`, best first: a heap of the kept with the last-ranked on top, so a
    candidate costs one comparison unless it gets in (log `keep` then), then sorted."""
    kept = min(found, keep)
    for i in range(kept):
        ranked[i] = i
    for root in range(kept // 2 - 1, -1, -1):
        _sift(score, first, target, ranked, root, kept)
    for i in range(kept, found):
        if _ahead(score, first, target, i, ranked[0]):
            ranked[0] = i
            _sift(score, first, target, ranked, 0, kept)
    for end in range(kept - 1, 0, -1):
        ranked[0], ranked[end] = ranked[end], ranked[0]
        _sift(score, first, target, ranked, 0, end)
    return kept


@_compiled
def _sift(
    score: FloatArray, first: IntArray, target: IntArray, heap: IntArray, at: int, size: int
) -> None:
    """Restore the heap of heap[:size] below `at`: each node ranks after its children."""
    while True:
        last = at
        for child in (2 * at + 1, 2 * at + 2):
            if child < size and _ahead(score, first, target, heap[last], heap[child]):
                last = child
        if last == at:
            return
        heap[at], heap[last] = heap[last], heap[at]
        at = last


@_compiled
def _resized(values: npt.NDArray[Scalar], size: int) -> npt.NDArray[Scalar]:
    """A copy of `values` with room for `size` entries."""
    grown = np.empty(size, values.dtype)
    grown[: len(values)] = values
    return grown
