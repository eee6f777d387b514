"""Variety in the cross-sell picks (issue 18), shared by the send and the offline
evaluation (no Django).

Discovery alone shows every customer what their like-minded customers buy most, so the
same few hundred products filled every email. Now the customer's discovery picks and the
products bought together with their basket compete in one ranking (`blend`), each
source's scores divided by its own best, bought-together's multiplied by MIX_WEIGHT,
instead of discovery filling every slot first: a basket's strong companion takes the
place of a weak fourth discovery pick (docs/recommendations.md#variety).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Bought-together's weight against discovery: chosen on the Complete Journey's
# validation cut, the most coverage whose hit rate@4 stays within the evaluation's
# VARIETY_TOLERANCE of discovery alone (docs/recommendations.md#variety).
MIX_WEIGHT = 0.8


def blend(
    *, sources: Sequence[Iterable[tuple[int, float]]], weights: Sequence[float]
) -> list[tuple[int, float, int]]:
    """One ranking of several sources' (product, score) candidates: each score divided by
    its source's best and multiplied by the source's weight; a product in several sources
    keeps its best, with the index of the source that gave it. Best first (a tie keeps
    the earlier source and candidate)."""
    best: dict[int, tuple[float, int]] = {}
    first_seen: dict[int, int] = {}
    for index, (found, weight) in enumerate(zip(sources, weights, strict=True)):
        found = list(found)
        top = max((score for _, score in found), default=0.0)
        if top <= 0 or weight <= 0:
            continue
        for product, score in found:
            value = weight * score / top
            first_seen.setdefault(product, len(first_seen))
            if value > best.get(product, (0.0, 0))[0]:
                best[product] = (value, index)
    ranked = sorted(best, key=lambda product: (-best[product][0], first_seen[product]))
    return [(product, *best[product]) for product in ranked]
