"""Picking products for one email from the fitted associations (reads only, a few queries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from aftersale.catalog.models import Product
from aftersale.orders.models import LineItem, OrderStatus
from aftersale.recommendations.models import AssociationKind, ProductAssociation, ProductRank
from aftersale.recommendations.services import BESTSELLER
from aftersale.stores.models import Store

BOUGHT_TOGETHER = str(AssociationKind.BOUGHT_TOGETHER)
POPULAR_REASON = "Popular with our customers"
# More ranked bestsellers than any email shows, so filters rarely exhaust them.
_BESTSELLER_WINDOW = 200
# Candidates are screened (stock, price, already bought) this many at a time, and no
# more than _MAX_SCREENED in all: an email shows four, and each id costs query time.
_WINDOW = 40
_MAX_SCREENED = 200


@dataclass(frozen=True)
class Pick:
    """One recommended product, why it was picked, and by which strategy."""

    product_id: int
    reason: str
    strategy: str


def recommend(
    *,
    store: Store,
    customer_id: int,
    basket_product_ids: list[int],
    now: dt.datetime,
    limit: int = 4,
    minimum: int = 2,
) -> list[Pick]:
    """Between `minimum` and `limit` products to show a customer who bought the basket
    (fewer only when the catalog has no more eligible products), best first.

    Products bought together with the basket come first, one per category; when they give
    fewer than `minimum`, bestsellers fill up to `limit`; only if categories run out are
    two of one category shown. Never shown: the basket's own products, products the
    customer bought at or before `now`, out-of-stock and free ones.
    """
    basket = list(dict.fromkeys(basket_product_ids))
    screen = _Screen(store=store, customer_id=customer_id, now=now, excluded=set(basket))
    scored = _bought_together_scores(store=store, sources=basket)
    ranked = sorted(scored, key=lambda target: -scored[target][0])[:_MAX_SCREENED]
    paired = (
        _Candidate(product, BOUGHT_TOGETHER, source=scored[product.id][1])
        for product in screen.eligible(ranked)
    )
    chosen, passed_over = _diverse(paired, chosen=[], limit=limit)
    if len(chosen) < minimum:
        chosen = _top_up(
            store=store,
            screen=screen,
            chosen=chosen,
            passed_over=passed_over,
            limit=limit,
            minimum=minimum,
        )
    return _picks(store=store, chosen=chosen)


def _top_up(
    *,
    store: Store,
    screen: _Screen,
    chosen: list[_Candidate],
    passed_over: list[_Candidate],
    limit: int,
    minimum: int,
) -> list[_Candidate]:
    """`chosen` filled with bestsellers of new categories up to `limit`; then, if still
    short of `minimum`, with the best products passed over for repeating a category."""
    popular = (
        _Candidate(product, BESTSELLER) for product in screen.eligible(_bestseller_ids(store=store))
    )
    chosen, more_passed_over = _diverse(popular, chosen=chosen, limit=limit)
    shown = {c.product.id for c in chosen}
    spare = [c for c in [*passed_over, *more_passed_over] if c.product.id not in shown]
    return chosen + spare[: max(minimum - len(chosen), 0)]


@dataclass(frozen=True)
class _Product:
    id: int
    name: str
    category: str
    price: Decimal
    stock: int | None

    @property
    def eligible(self) -> bool:
        """In stock (untracked stock counts as in stock) and not free."""
        return (self.stock is None or self.stock > 0) and self.price > 0

    @property
    def group(self) -> str:
        """The diversity group: the category, or the product alone when it has none."""
        return self.category or f"#product-{self.id}"


@dataclass(frozen=True)
class _Candidate:
    product: _Product
    strategy: str
    source: int | None = None  # the basket product it goes with


class _Screen:
    """Filters ranked product ids down to the ones one customer may be shown."""

    def __init__(
        self, *, store: Store, customer_id: int, now: dt.datetime, excluded: set[int]
    ) -> None:
        self.store, self.customer_id, self.now = store, customer_id, now
        self.excluded = excluded

    def eligible(self, ranked: list[int]) -> Iterator[_Product]:
        """The eligible products of `ranked`, in order, a window at a time: the
        queries for later windows run only if the caller reads that far."""
        for start in range(0, len(ranked), _WINDOW):
            ids = [i for i in ranked[start : start + _WINDOW] if i not in self.excluded]
            products = _products(store=self.store, ids=ids)
            bought = _already_bought(
                store=self.store, customer_id=self.customer_id, now=self.now, among=ids
            )
            for product_id in ids:
                product = products.get(product_id)
                if product and product.eligible and product_id not in bought:
                    self.excluded.add(product_id)  # shown once across strategies
                    yield product


def _bought_together_scores(*, store: Store, sources: list[int]) -> dict[int, tuple[float, int]]:
    """For every associated target: its summed score over `sources` and the source that
    contributed most (named in the reason)."""
    if not sources:
        return {}
    rows = ProductAssociation.objects.filter(
        store=store, kind=BOUGHT_TOGETHER, source_id__in=sources
    ).values_list("source_id", "target_id", "score")
    totals: dict[int, float] = {}
    best: dict[int, tuple[float, int]] = {}
    for source, target, score in rows:
        totals[target] = totals.get(target, 0.0) + score
        if score > best.get(target, (-1.0, 0))[0]:
            best[target] = (score, source)
    return {target: (total, best[target][1]) for target, total in totals.items()}


def _bestseller_ids(*, store: Store) -> list[int]:
    """The store's ranked bestsellers, best first."""
    ranks = ProductRank.objects.filter(store=store, kind=BESTSELLER).order_by("rank")
    return list(ranks.values_list("product_id", flat=True)[:_BESTSELLER_WINDOW])


def _products(*, store: Store, ids: list[int]) -> dict[int, _Product]:
    """The store's products among `ids`, by id."""
    if not ids:
        return {}
    rows = Product.objects.filter(store=store, id__in=ids).values_list(
        "id", "name", "category", "price", "stock"
    )
    return {row[0]: _Product(*row) for row in rows}


def _already_bought(
    *, store: Store, customer_id: int, now: dt.datetime, among: list[int]
) -> set[int]:
    """Products among `among` the customer bought in orders placed at or before `now`
    (a cancelled order was never theirs)."""
    if not among:
        return set()
    return set(
        LineItem.objects.filter(
            store=store,
            order__customer_id=customer_id,
            order__placed_at__lte=now,
            product_id__in=among,
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .values_list("product_id", flat=True)
    )


def _diverse(
    candidates: Iterable[_Candidate], *, chosen: list[_Candidate], limit: int
) -> tuple[list[_Candidate], list[_Candidate]]:
    """`chosen` extended, in order, with candidates of groups not shown yet, up to `limit`;
    and the candidates passed over for repeating a group. Reads no further than needed."""
    result = list(chosen)
    groups = {c.product.group for c in result}
    passed_over: list[_Candidate] = []
    if len(result) >= limit:
        return result, passed_over
    for candidate in candidates:
        if candidate.product.group in groups:
            passed_over.append(candidate)
            continue
        result.append(candidate)
        groups.add(candidate.product.group)
        if len(result) >= limit:
            break
    return result, passed_over


def _picks(*, store: Store, chosen: list[_Candidate]) -> list[Pick]:
    """The chosen candidates as picks, each bought-together one naming its source."""
    sources = [c.source for c in chosen if c.source is not None]
    names = (
        dict(Product.objects.filter(store=store, id__in=sources).values_list("id", "name"))
        if sources
        else {}
    )
    return [
        Pick(c.product.id, f"Goes with your {names[c.source]}", c.strategy)
        if c.source is not None
        else Pick(c.product.id, POPULAR_REASON, c.strategy)
        for c in chosen
    ]
