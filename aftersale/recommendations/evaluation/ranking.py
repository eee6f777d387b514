"""From a method's scores to each task's top-K lists, with the same filters for all."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
from scipy import sparse

from aftersale.recommendations.evaluation.data import FloatArray, IntArray
from aftersale.recommendations.evaluation.metrics import Task
from aftersale.recommendations.topk import best_positive

# Dense (users x products) scores; history rows in, higher is better, <= 0 is "no idea".
Scorer = Callable[[IntArray], FloatArray]
# Users scored at once: a block of dense scores over ~60k products stays near 100 MB.
BATCH = 256


def top_k(
    *, scores: FloatArray, owned: sparse.csr_matrix, fill: FloatArray, task: Task, k: int
) -> IntArray:
    """Each row's K best products for `task`, best first, -1 where none is left.

    Products a method scores above zero come first, by score; the rest of a short list is
    filled by `fill` (popularity), so every method is judged on full lists. cross_sell
    never lists an owned product; replenishment lists only owned ones (nothing else can
    hit, so every method gets the same restriction).
    """
    owned_rows = np.repeat(np.arange(owned.shape[0]), np.diff(owned.indptr))
    if task == "replenishment":
        return _top_owned(scores=scores, owned=owned, owned_rows=owned_rows, fill=fill, k=k)
    # Ranking on float32 halves the memory traffic, the bulk of the cost.
    key = scores.astype(np.float32)
    key[owned_rows, owned.indices] = 0.0
    best = _best_positive(key, k)
    # Rows the method left short are topped up with popular products they do not own.
    short = np.flatnonzero((best < 0).any(axis=1))
    if len(short):
        popular = np.argsort(-fill, kind="stable")
        for row in short:
            best[row] = _topped_up(
                best[row], owned.indices[owned.indptr[row] : owned.indptr[row + 1]], popular
            )
    return best


def _topped_up(listed: IntArray, owned: IntArray, popular: IntArray) -> IntArray:
    """`listed` (-1 padded) with its gaps filled by the first `popular` products neither
    listed nor owned."""
    kept = [int(p) for p in listed if p >= 0]
    excluded = set(kept).union(owned.tolist())
    for product in popular:
        if len(kept) == len(listed):
            break
        if product not in excluded:
            kept.append(int(product))
    return np.array(kept + [-1] * (len(listed) - len(kept)), np.int64)


def _top_owned(
    *,
    scores: FloatArray,
    owned: sparse.csr_matrix,
    owned_rows: IntArray,
    fill: FloatArray,
    k: int,
) -> IntArray:
    """Top-K among each row's owned products only: a small ragged ranking, padded."""
    counts = np.diff(owned.indptr)
    width = max(int(counts.max(initial=0)), k)
    slot = np.arange(len(owned.indices)) - np.repeat(owned.indptr[:-1], counts)
    key = np.full((owned.shape[0], width), -np.inf)
    cols = np.zeros((owned.shape[0], width), np.int64)
    own_scores = scores[owned_rows, owned.indices]
    key[owned_rows, slot] = _with_fill(own_scores[None, :], fill[owned.indices])[0]
    if len(own_scores):
        # Scale per row as _with_fill would over the row's owned scores alone.
        row_max = np.zeros(owned.shape[0])
        np.maximum.at(row_max, owned_rows, own_scores)
        positive = own_scores > 0
        scaled = 2.0 + own_scores / np.maximum(row_max[owned_rows], 1e-300)
        key[owned_rows[positive], slot[positive]] = scaled[positive]
    cols[owned_rows, slot] = owned.indices
    best = _best_of(key, k)
    chosen = np.take_along_axis(cols, best, axis=1)
    chosen[np.isinf(np.take_along_axis(key, best, axis=1))] = -1
    return chosen


def _with_fill(scores: FloatArray, fill: FloatArray) -> FloatArray:
    """Keys ranking scored products (> 2) above unscored ones, ordered by fill (< 1)."""
    row_max = np.maximum(scores.max(axis=1, initial=0.0), 1e-300)[:, None]
    fill_part = 0.5 * fill / max(float(fill.max(initial=0.0)), 1e-300)
    return np.where(scores > 0, 2.0 + scores / row_max, fill_part[None, :])


def _best_positive(key: npt.NDArray[np.floating], k: int) -> IntArray:
    """Column indexes of each row's k largest positive keys, largest first (ties: lower
    column first), -1 where a row has fewer (topk.best_positive)."""
    rows, columns = best_positive(key, k)
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    best = np.full((key.shape[0], k), -1, np.int64)
    best[rows, rank] = columns
    return best


def _best_of(key: npt.NDArray[np.floating], k: int) -> IntArray:
    """Column indexes of each row's k largest keys, largest first."""
    k = min(k, key.shape[1])
    best = np.argpartition(key, -k, axis=1)[:, -k:]
    order = np.argsort(-np.take_along_axis(key, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1).astype(np.int64)


def batches(rows: IntArray, size: int = BATCH) -> Iterator[IntArray]:
    """`rows` in consecutive chunks of at most `size`."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
