"""Paired bootstrap of the ratio of two methods' mean per-user metric."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aftersale.recommendations.evaluation.data import FloatArray


@dataclass(frozen=True)
class Interval:
    """The observed ratio and its bootstrap interval at `level`."""

    ratio: float
    low: float
    high: float
    level: float


def paired_ratio_interval(
    *, a: FloatArray, b: FloatArray, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """mean(a) / mean(b) over the same users, with a percentile interval from resampling
    users (both methods keep each drawn user, so user difficulty cancels out).

    Seeded, so the same inputs always give the same interval. A resample whose mean(b)
    is zero gives an infinite ratio, which sorts to the top."""
    if len(a) != len(b) or not len(a):
        raise ValueError("a and b must score the same, non-empty set of users")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(a), size=(resamples, len(a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = a[drawn].mean(axis=1) / b[drawn].mean(axis=1)
        observed = float(a.mean() / b.mean()) if b.mean() else float("inf")
    ratios = np.nan_to_num(ratios, nan=1.0, posinf=np.inf)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return Interval(ratio=observed, low=float(low), high=float(high), level=level)
