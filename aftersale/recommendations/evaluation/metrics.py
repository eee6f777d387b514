"""Top-K metrics per evaluated user, and what each task counts as relevant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

from aftersale.recommendations.evaluation.data import FloatArray, IntArray, Split

Task = Literal["cross_sell", "replenishment"]
TASKS: tuple[Task, ...] = ("cross_sell", "replenishment")
# Product pairs compared at once by intra_list_diversity.
_PAIRS = 2048


@dataclass(frozen=True)
class Relevance:
    """One task's view of the truth: which users it scores and what counts as a hit.

    `users` are history rows (only users with at least one relevant product); `relevant`
    (users x products) marks recommendable relevant products and `n_relevant` counts all
    relevant products, including ones no method could recommend.
    """

    task: Task
    users: IntArray
    relevant: sparse.csr_matrix
    n_relevant: IntArray


@dataclass(frozen=True)
class UserScores:
    """Per-user hit (0/1), recall and NDCG of one method's lists, aligned with the users."""

    hit: FloatArray
    recall: FloatArray
    ndcg: FloatArray


def relevance(*, split: Split, task: Task) -> Relevance:
    """What `task` counts for each evaluated user of the split: in cross_sell the window
    purchases of products the user never bought before the cut (including products new to
    the store), in replenishment those of products the user had bought."""
    truth, history = split.truth, split.history
    owned = (history.counts[truth.users] > 0).astype(np.float64)
    bought = (truth.bought > 0).astype(np.float64)
    if task == "cross_sell":
        relevant = bought - bought.multiply(owned)
        extra = truth.unseen
    else:
        relevant = bought.multiply(owned)
        extra = np.zeros(len(truth.users), np.int64)
    relevant = sparse.csr_matrix(relevant)
    relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr) + extra
    keep = n_relevant > 0
    return Relevance(
        task=task,
        users=truth.users[keep],
        relevant=relevant[keep],
        n_relevant=n_relevant[keep].astype(np.int64),
    )


def score_lists(
    *, lists: IntArray, relevant: sparse.csr_matrix, n_relevant: IntArray
) -> UserScores:
    """Hit, recall and NDCG at K = lists.shape[1] of each user's list (-1 pads a short list).

    Hit is 1 when any listed product is relevant; recall is hits over all relevant
    products; NDCG discounts each hit by log2(rank + 1) and divides by the best possible
    DCG for min(K, relevant) hits.
    """
    n_users, k = lists.shape
    padded = lists < 0
    looked_up = relevant[np.arange(n_users)[:, None], np.where(padded, 0, lists)]
    hits = np.asarray(looked_up.toarray() if sparse.issparse(looked_up) else looked_up) > 0
    hits &= ~padded
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    return UserScores(
        hit=np.asarray(hits.any(axis=1), np.float64),
        recall=np.asarray(hits.sum(axis=1) / n_relevant, np.float64),
        ndcg=np.asarray((hits * discount).sum(axis=1) / ideal, np.float64),
    )


def coverage(*, lists: IntArray, n_products: int) -> float:
    """Share of the catalog (products bought before the cut) shown to anyone."""
    shown = np.unique(lists[lists >= 0])
    return len(shown) / n_products if n_products else 0.0


def intra_list_diversity(*, lists: IntArray, counts: sparse.csr_matrix) -> float:
    """Mean over users of the mean pairwise dissimilarity of their listed products: 1
    minus the cosine of the two products' buyer sets before the cut (co-purchase, as
    every history has it; 1 for two products no customer bought both of). A user with
    fewer than two listed products is left out; NaN when no user has two."""
    n_users, k = lists.shape
    first, second = np.triu_indices(k, 1)
    a, b = lists[:, first].ravel(), lists[:, second].ravel()
    pair_user = np.repeat(np.arange(n_users), len(first))
    valid = (a >= 0) & (b >= 0)
    if not valid.any():
        return float("nan")
    a, b, pair_user = a[valid], b[valid], pair_user[valid]
    buyers = sparse.csr_matrix((counts > 0).T, dtype=np.float64)
    sizes = np.diff(buyers.indptr).astype(np.float64)
    # In chunks of pairs: two staples' rows hold most customers each.
    together = np.concatenate(
        [
            np.asarray(
                buyers[a[i : i + _PAIRS]].multiply(buyers[b[i : i + _PAIRS]]).sum(axis=1)
            ).ravel()
            for i in range(0, len(a), _PAIRS)
        ]
    )
    cosine = together / np.maximum(np.sqrt(sizes[a] * sizes[b]), 1.0)
    per_user = np.bincount(pair_user, weights=1.0 - cosine, minlength=n_users)
    pairs = np.bincount(pair_user, minlength=n_users)
    scored = pairs > 0
    return float((per_user[scored] / pairs[scored]).mean())
