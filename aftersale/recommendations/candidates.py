"""Where a strategy's candidates come from: each function reads the fitted rows (or the
merchant's rules) for one customer and returns product ids scored best first.

Reads only, one or two queries each; `selectors.recommend` screens and orders them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Q

from aftersale.catalog.models import Product
from aftersale.orders.models import LineItem, OrderStatus
from aftersale.recommendations.models import (
    AssociationKind,
    ComplementRule,
    CustomerPick,
    ProductAssociation,
    ProductRank,
    RecommendationFeedback,
    RepurchaseInterval,
    RuleKind,
)
from aftersale.recommendations.services import BESTSELLER, CATEGORY_BESTSELLER
from aftersale.stores.models import Store

# Recent purchases speak louder in "personal": a purchase's weight halves every 90 days.
PERSONAL_HALF_LIFE_DAYS = 90.0
# The customer's most recent distinct products that seed "personal".
_PERSONAL_SEEDS = 50
# A product is due from this share of its interval before the due day (at least
# _DUE_WINDOW_MIN), and lapsed (no longer restocked here) this many intervals after it.
_DUE_SHARE = 0.2
_DUE_WINDOW_MIN = dt.timedelta(days=3)
_LAPSED_INTERVALS = 2.0
# How much one customer's "not helpful" weighs the product down for them, and how many
# imagined "helpful" answers every product starts with before rejections pull it down.
_OWN_REJECTION_WEIGHT = 0.1
_FEEDBACK_PRIOR = 10.0


@dataclass(frozen=True)
class Scored:
    """A candidate product, its score, the customer's product it comes from, for an
    upgrade how much more it costs than that product, and in a blend the source that
    found it."""

    product_id: int
    score: float
    source: int | None = None
    price_difference: Decimal | None = None
    # The source that found it, when a blend of sources (selectors' "mixed") ranks it.
    origin: str | None = None


@dataclass(frozen=True)
class Purchase:
    """The customer's latest purchase of one product."""

    product_id: int
    category: str
    price: Decimal
    rating: Decimal | None
    last: dt.datetime


def purchases(*, store: Store, customer_id: int, now: dt.datetime) -> list[Purchase]:
    """Every product the customer bought in orders placed at or before `now` (cancelled
    orders were never theirs), latest purchase first."""
    # No store filter: the customer belongs to one store, and a filter on the line
    # items' store makes SQLite walk every line item of the store (70 ms, not 1 ms).
    rows = (
        LineItem.objects.filter(order__customer_id=customer_id, order__placed_at__lte=now)
        .exclude(order__status=OrderStatus.CANCELLED)
        .values_list("product_id", "product__category", "product__price", "product__rating")
        .annotate(last=Max("order__placed_at"))
        .order_by("-last", "product_id")
    )
    return [Purchase(*row) for row in rows]


def complementary(
    *, store: Store, seeds: list[Purchase], kind: RuleKind = RuleKind.COMPLEMENT
) -> list[Scored]:
    """Targets of the merchant's rules of `kind` whose source is one of the seed products
    or their categories: named products first (in rule order), then the bestsellers of
    named categories."""
    if not seeds:
        return []
    by_product = {p.product_id: p for p in seeds}
    by_category = {p.category: p for p in reversed(seeds) if p.category}
    rules = ComplementRule.objects.filter(store=store, kind=kind).filter(
        Q(source_product_id__in=by_product) | Q(source_category__in=by_category)
    )
    found: list[Scored] = []
    category_sources: dict[str, int] = {}
    for rule in rules.order_by("pk"):
        seed = by_product.get(rule.source_product_id or 0) or by_category[rule.source_category]
        if rule.target_product_id is not None:
            found.append(Scored(rule.target_product_id, 2.0, seed.product_id))
        else:
            category_sources.setdefault(rule.target_category, seed.product_id)
    for ranked in category_bestsellers(store=store, categories=list(category_sources)):
        category = ranked.category
        found.append(Scored(ranked.product_id, min(ranked.score, 1.0), category_sources[category]))
    return _best_first(found)


def associated(*, store: Store, kind: AssociationKind, sources: dict[int, float]) -> list[Scored]:
    """Targets associated with the `sources` (product id -> weight): each target's score
    is the weighted sum over sources, and its source the one that gave most."""
    if not sources:
        return []
    rows = ProductAssociation.objects.filter(
        store=store, kind=kind, source_id__in=list(sources)
    ).values_list("source_id", "target_id", "score")
    totals: dict[int, float] = {}
    best: dict[int, tuple[float, int]] = {}
    for source, target, score in rows:
        weighted = score * sources[source]
        totals[target] = totals.get(target, 0.0) + weighted
        if weighted > best.get(target, (-1.0, 0))[0]:
            best[target] = (weighted, source)
    return _best_first(Scored(t, total, best[t][1]) for t, total in totals.items())


def discovered(*, store: Store, customer_id: int) -> list[Scored]:
    """The customer's discovery picks stored by the last fit (products their nearest
    customers bought), best first; none for a customer who bought nothing before it."""
    rows = (
        CustomerPick.objects.filter(store=store, customer_id=customer_id)
        .order_by("-score", "product_id")
        .values_list("product_id", "score")
    )
    return [Scored(product_id, score) for product_id, score in rows]


def personal_seeds(*, history: list[Purchase], now: dt.datetime) -> dict[int, float]:
    """The customer's latest distinct products, each weighted by how recent it is."""
    return {
        p.product_id: 0.5 ** (max((now - p.last).days, 0) / PERSONAL_HALF_LIFE_DAYS)
        for p in history[:_PERSONAL_SEEDS]
    }


def upgrades(*, store: Store, bases: list[Purchase], max_price_ratio: float) -> list[Scored]:
    """Higher tiers of the `bases`, with their price difference: products the merchant
    marked as an upgrade of a base (or of its category) first, then products of a base's
    category priced above it (at most `max_price_ratio` times its price) and rated at
    least as well (when both are rated), better rated and nearer in price first."""
    bases = [b for b in bases if b.price > 0]
    if not bases:
        return []
    marked = complementary(store=store, seeds=bases, kind=RuleKind.UPGRADE)
    query = Q(pk__in=[s.product_id for s in marked])
    for base in bases:
        if base.category:
            query |= Q(category=base.category, price__gt=base.price)
    rows = list(
        Product.objects.filter(store=store)
        .filter(query)
        .values_list("id", "category", "price", "rating")
    )
    by_id = {b.product_id: b for b in bases}
    prices = {pk: price for pk, _, price, _ in rows}
    found = [
        Scored(s.product_id, 10.0, s.source, prices[s.product_id] - by_id[s.source].price)
        for s in marked
        if s.product_id in prices and s.source in by_id
    ]
    for pk, category, price, rating in rows:
        for base in bases:
            if _better_tier(
                base, category=category, price=price, rating=rating, ratio=max_price_ratio
            ):
                stars = float((rating or 0) - (base.rating or 0))
                nearness = float(base.price / price)  # in (0, 1): the next tier up first
                found.append(
                    Scored(pk, 1.0 + stars + nearness, base.product_id, price - base.price)
                )
    return _best_first(sorted(found, key=lambda s: -s.score))


def _better_tier(
    base: Purchase, *, category: str, price: Decimal, rating: Decimal | None, ratio: float
) -> bool:
    """Same category, dearer within the band, and not rated worse than the base."""
    if not base.category or category != base.category:
        return False
    if not base.price < price <= base.price * Decimal(str(ratio)):
        return False
    return base.rating is None or rating is None or rating >= base.rating


def due_for_restock(*, store: Store, history: list[Purchase], now: dt.datetime) -> list[Scored]:
    """The customer's products with a learned repurchase interval that are due around
    `now` (from a fifth of the interval before the due day until two intervals after it),
    the most due first; each is its own source."""
    intervals = _intervals(store=store, history=history)
    found = []
    for purchase in history:
        if purchase.product_id not in intervals:
            continue
        interval = dt.timedelta(days=intervals[purchase.product_id])
        due = purchase.last + interval
        window = max(interval * _DUE_SHARE, _DUE_WINDOW_MIN)
        if due - window <= now <= due + interval * _LAPSED_INTERVALS:
            # Past the due day, the longer a product is overdue the likelier it ran out.
            found.append(
                Scored(purchase.product_id, (now - purchase.last) / interval, purchase.product_id)
            )
    return _best_first(found)


def due_dates(*, store: Store, customer_id: int, since: dt.datetime) -> list[dt.datetime]:
    """When each product with a learned interval that the customer bought at or before
    `since` is due again (its latest purchase plus the interval)."""
    history = purchases(store=store, customer_id=customer_id, now=since)
    intervals = _intervals(store=store, history=history)
    return [
        p.last + dt.timedelta(days=intervals[p.product_id])
        for p in history
        if p.product_id in intervals
    ]


def _intervals(*, store: Store, history: list[Purchase]) -> dict[int, float]:
    """The learned repurchase interval (median days) of each product in `history` that
    has one."""
    return dict(
        RepurchaseInterval.objects.filter(
            store=store, product_id__in=[p.product_id for p in history]
        ).values_list("product_id", "median_days")
    )


@dataclass(frozen=True)
class RankedProduct:
    product_id: int
    category: str
    score: float


def category_bestsellers(*, store: Store, categories: list[str]) -> list[RankedProduct]:
    """The fitted bestsellers of the `categories`, best first."""
    if not categories:
        return []
    rows = (
        ProductRank.objects.filter(
            store=store, kind=CATEGORY_BESTSELLER, product__category__in=categories
        )
        .order_by("-score", "rank")
        .values_list("product_id", "product__category", "score")
    )
    return [RankedProduct(*row) for row in rows]


def bestsellers(*, store: Store, limit: int) -> list[Scored]:
    """The store's fitted bestsellers, best first."""
    ranks = ProductRank.objects.filter(store=store, kind=BESTSELLER).order_by("rank")
    return [Scored(pk, score) for pk, score in ranks.values_list("product_id", "score")[:limit]]


def feedback_weights(
    *, store: Store, customer_id: int, product_ids: Iterable[int]
) -> dict[int, float]:
    """A multiplier below one for each of `product_ids` customers answered "not helpful"
    for: (helpful + prior) / (helpful + rejections + prior) over every customer, times
    _OWN_REJECTION_WEIGHT when this customer's own latest answers rejected it."""
    ids = list(product_ids)
    if not ids:
        return {}
    rows = (
        RecommendationFeedback.objects.filter(store=store, product_id__in=ids)
        .values("product_id")
        .annotate(
            yes=Count("pk", filter=Q(helpful=True)),
            no=Count("pk", filter=Q(helpful=False)),
            own_no=Count("pk", filter=Q(helpful=False, customer_id=customer_id)),
        )
        .filter(no__gt=0)
        .values_list("product_id", "yes", "no", "own_no")
    )
    return {
        pk: (yes + _FEEDBACK_PRIOR)
        / (yes + no + _FEEDBACK_PRIOR)
        * (_OWN_REJECTION_WEIGHT if own_no else 1.0)
        for pk, yes, no, own_no in rows
    }


def _best_first(found: Iterable[Scored]) -> list[Scored]:
    """Highest score first; the first listed wins a tie and a repeated product."""
    seen: set[int] = set()
    unique = []
    for scored in found:
        if scored.product_id not in seen:
            seen.add(scored.product_id)
            unique.append(scored)
    return sorted(unique, key=lambda s: -s.score)
