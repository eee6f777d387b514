"""Each row's best few columns of a dense score matrix, fast: shared by the live fit and
the offline evaluation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse

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


# Entries per chunk of a sparse row whose maxima bound the row's top k (best_of_rows).
_CHUNK = 16


def best_of_rows(
    scores: sparse.csr_matrix, k: int
) -> tuple[IntArray, IntArray, npt.NDArray[np.float32]]:
    """(row, column, score) of each row's `k` highest stored scores above zero, rows
    ascending and each row's best first (ties: lower column first), from a float32
    sparse matrix without duplicate entries (a product's result).

    Like best_positive, a bound comes first: each row's entries in chunks of _CHUNK, the
    k-th largest chunk maximum is at most the row's k-th largest score, so only entries
    at or above it are sorted (sorting all of them took most of the fit)."""
    data = np.asarray(scores.data, dtype=np.float32)
    n_rows, width = scores.shape
    lengths = np.diff(scores.indptr)
    chunks = -(-lengths // _CHUNK)
    owner = np.repeat(np.arange(n_rows), chunks)
    first_chunk = np.cumsum(chunks) - chunks
    starts = scores.indptr[owner] + (np.arange(len(owner)) - first_chunk[owner]) * _CHUNK
    floor = np.zeros(n_rows, np.float32)
    if len(starts):
        maxima = np.maximum.reduceat(data, starts)
        ranked, _, _ = _sorted(owner, np.maximum(maxima, 0), np.zeros(len(owner), np.int64), 1)
        enough = chunks >= k
        floor[enough] = np.maximum(maxima, 0)[ranked][first_chunk[enough] + k - 1]
    row = np.repeat(np.arange(n_rows), lengths)
    kept = (data >= floor[row]) & (data > 0)
    order, row, column = _sorted(row[kept], data[kept], scores.indices[kept], width)
    value = data[kept][order]
    best = np.arange(len(row)) - np.searchsorted(row, row) < k
    return row[best], column[best], value[best]


def _sorted(
    row: IntArray, value: npt.NDArray[np.float32], column: npt.ArrayLike, width: int
) -> tuple[IntArray, IntArray, IntArray]:
    """The order that sorts entries by row, then value descending, then column (values
    at least zero), and the sorted rows and columns: one sort of 64-bit keys (a float32
    at least zero orders as its bits), or a lexsort when the keys would not fit."""
    column = np.asarray(column, dtype=np.int64)
    row_bits = max(int(row.max(initial=0)).bit_length(), 1)
    column_bits = max(width - 1, 1).bit_length()
    if row_bits + 31 + column_bits > 63:
        order = np.lexsort((column, -value, row))
        return order, row[order], column[order]
    falling = np.int64(2**31 - 1) - value.view(np.int32).astype(np.int64)
    keys = (row.astype(np.int64) << (31 + column_bits)) | (falling << column_bits) | column
    order = np.argsort(keys)
    keys = keys[order]
    return order, keys >> (31 + column_bits), keys & ((1 << column_bits) - 1)
