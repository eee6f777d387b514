from typing import Any

import numpy as np
import pytest

from aftersale.recommendations import services
from aftersale.recommendations.cooccurrence import score_pairs
from aftersale.recommendations.evaluation import strategies
from aftersale.recommendations.evaluation.data import temporal_split
from aftersale.recommendations.evaluation.metrics import TASKS, relevance
from aftersale.recommendations.evaluation.run import Method, tune
from aftersale.recommendations.tests.evaluation_fixtures import CUT, orders_from
from aftersale.recommendations.variety import blend


def test_blend_ranks_each_source_on_its_own_scale_and_names_the_source():
    discovery = [(1, 8.0), (2, 4.0), (3, 2.0)]
    together = [(4, 300.0), (2, 290.0), (5, 30.0)]
    assert blend(sources=[discovery, together], weights=[1.0, 0.5]) == [
        (1, 1.0, 0),
        (2, 0.5, 0),  # 4 / 8 beats 0.5 * 290 / 300; the tie with 4 goes to the first seen
        (4, 0.5, 1),
        (3, 0.25, 0),
        (5, 0.05, 1),
    ]
    assert blend(sources=[[], together], weights=[1.0, 0.5])[0] == (4, 0.5, 1)


def _grocery():
    """400 shoppers: each bought bread and three
    of 30 products, the first ones far more often, so discovery alone shows everyone the
    same few popular ones."""
    rng = np.random.default_rng(5)
    weights = 1.0 / np.arange(1, 31)
    baskets = []
    for who in range(400):
        chosen = rng.choice(30, size=3, replace=False, p=weights / weights.sum())
        baskets.append((who, "2024-01-10", [100, *(200 + chosen).tolist()]))
        baskets.append((who, "2024-03-05", [100]))
    return orders_from(baskets)


def test_the_evaluated_mix_ranks_the_baskets_best_companion_with_discoverys_best():
    split = temporal_split(orders=_grocery(), cut=CUT)
    history = split.history
    settings: dict[str, Any] = {
        "neighbours": 10,
        "popularity_exponent": 0.2,
        "half_life_days": 120.0,
        "count_exponent": 0.5,
    }
    plain = strategies.fit_discovery(history=history, **settings)
    varied = strategies.fit_discovery(history=history, **settings, mix_weight=0.8)
    rows = np.arange(history.shape[0])
    owned = history.counts[rows].toarray() > 0
    mixed = varied(rows)
    discovered = np.where(owned, 0, plain(rows)).max(axis=1) > 0
    # Discovery's best new product scores 1, and the best companion of the last basket
    # (the live fit's pairs) 0.8 unless discovery rates it higher.
    pairs = score_pairs(baskets=history.basket, products=history.col, top_n=20)
    together = np.zeros((history.shape[1],) * 2)
    together[pairs.source, pairs.target] = pairs.score
    companions = (history.last_basket.toarray() > 0) @ together
    checked = 0
    for row in rows:
        if discovered[row]:
            assert np.where(owned[row], 0, mixed[row]).max() == pytest.approx(1.0)
        best = int(np.argmax(companions[row]))
        if companions[row, best] > 0 and not owned[row, best]:
            assert mixed[row, best] >= 0.8 - 1e-9
            checked += 1
    assert checked > 100
    # Owned products keep discovery's scores: the replenishment lists do not change.
    assert plain(rows)[owned] == pytest.approx(mixed[owned])


def test_the_evaluation_keeps_the_live_fits_pick_count():
    assert strategies.DISCOVERY_PICKS == services.DISCOVERY_PICKS


def test_variety_tuning_takes_the_most_coverage_within_the_tolerance():
    """Customers 1 and 2 go on to buy product 11, 3 and 4 product 12. Without variety
    everyone is shown 11; variety 1 shows each their own; variety 2 shows four products
    but misses most, beyond VARIETY_TOLERANCE, so variety 1 is chosen."""
    history = [(c, "2024-01-10", [10]) for c in (1, 2, 3, 4)] + [
        (5, "2024-01-10", [11, 12, 13, 14])
    ]
    after = [(1, "2024-03-05", [11]), (2, "2024-03-05", [11]), (3, "2024-03-05", [12])]
    split = temporal_split(orders=orders_from([*history, *after, (4, "2024-03-05", [12])]), cut=CUT)
    shown = {0: [1, 1, 1, 1], 1: [1, 1, 2, 2], 2: [3, 4, 1, 2]}

    def fit(*, history: Any, variety: int = 0) -> Any:
        def score(rows: np.ndarray) -> np.ndarray:
            scores = np.zeros((len(rows), history.shape[1]))
            scores[np.arange(len(rows)), [shown[variety][r] if r < 4 else 0 for r in rows]] = 1.0
            return scores

        return score

    method = Method("m", "aftersale", fit, variety=[{"variety": 1}, {"variety": 2}])
    relevances = {task: relevance(split=split, task=task) for task in TASKS}
    tuned = tune(method=method, split=split, relevances=relevances, k=1)
    assert tuned["cross_sell"] == {"variety": 1}
    # Replenishment lists owned products only, which variety leaves alone: none is kept.
    assert tuned["replenishment"] == {}
