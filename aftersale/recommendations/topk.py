"""Each row's best few columns of a dense score matrix, fast: shared by the live fit and
the offline evaluation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
# Columns per block whose maximum bounds a row's top k from below (see best_positive).
_BLOCK = 256


def best_positive(scores: npt.NDArray[np.floating], k: int) -> tuple[IntArray, IntArray]:
    """(row, column) of each row's `k` highest scores above zero, row by row, best first
    (ties: lower column first); a row with fewer positive scores gives fewer.

    A row's k-th largest block maximum is at most its k-th largest score, so only scores
    at or above it are sorted. (argpartition over whole rows is ten times slower on rows
    of many equal scores, as when most products score 0; sorting every positive score
    took most of the fit.)"""
    n_rows, n_columns = scores.shape
    block_max = np.maximum.reduceat(scores, np.arange(0, n_columns, _BLOCK), axis=1)
    if block_max.shape[1] >= k:
        floor = np.partition(block_max, -k, axis=1)[:, -k]
    else:
        floor = np.zeros(n_rows, scores.dtype)
    rows, columns = np.nonzero((scores >= floor[:, None]) & (scores > 0))
    order = np.lexsort((columns, -scores[rows, columns], rows))
    rows, columns = rows[order], columns[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    return rows[rank < k].astype(np.int64), columns[rank < k].astype(np.int64)
