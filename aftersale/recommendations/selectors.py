"""Picking products for one email from the fitted associations (reads only, a few queries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
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


@dataclass(frozen=True)
class Pick:
    """One recommended product, why it was picked, and by which strategy."""

    product_id: int
    reason: str
    strategy: str


@dataclass(frozen=True)
class _Candidate:
    pick: Pick
    group: str  # products of one group are not shown side by side


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
    fewer than `minimum`, bestsellers fill up to `limit`. Never shown: the basket's own
    products, products the customer bought at or before `now`, out-of-stock and free ones.
    """
    basket = list(dict.fromkeys(basket_product_ids))
    scored = _bought_together_scores(store=store, sources=basket)
    products = _products(store=store, ids=[*basket, *scored])
    excluded = set(basket) | _already_bought(
        store=store, customer_id=customer_id, now=now, among=scored.keys()
    )
    paired = [
        _Candidate(
            Pick(target, f"Goes with your {products[source].name}", BOUGHT_TOGETHER),
            _group(products[target]),
        )
        for target, (_, source) in sorted(scored.items(), key=lambda kv: -kv[1][0])
        if target in products and _eligible(products[target]) and target not in excluded
    ]
    chosen = _diverse(paired, limit=limit)
    if len(chosen) < minimum:
        popular = _bestsellers(store=store, customer_id=customer_id, now=now, excluded=excluded)
        chosen = _fill(chosen, [*paired, *popular], limit=limit, minimum=minimum)
    return [c.pick for c in chosen]


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


@dataclass(frozen=True)
class _Product:
    id: int
    name: str
    category: str
    price: Decimal
    stock: int | None


def _products(*, store: Store, ids: list[int]) -> dict[int, _Product]:
    """The store's products among `ids`, by id."""
    rows = Product.objects.filter(store=store, id__in=ids).values_list(
        "id", "name", "category", "price", "stock"
    )
    return {row[0]: _Product(*row) for row in rows}


def _already_bought(
    *, store: Store, customer_id: int, now: dt.datetime, among: Iterable[int]
) -> set[int]:
    """Products among `among` the customer bought in orders placed at or before `now`
    (a cancelled order was never theirs)."""
    ids = list(among)
    if not ids:
        return set()
    return set(
        LineItem.objects.filter(
            store=store, order__customer_id=customer_id, order__placed_at__lte=now,
            product_id__in=ids,
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .values_list("product_id", flat=True)
    )


def _bestsellers(
    *, store: Store, customer_id: int, now: dt.datetime, excluded: set[int]
) -> list[_Candidate]:
    """The store's eligible bestsellers, best first, without `excluded` and what the
    customer already bought."""
    ranked = list(
        ProductRank.objects.filter(store=store, kind=BESTSELLER)
        .order_by("rank")
        .values_list(
            "product_id", "product__name", "product__category", "product__price",
            "product__stock",
        )[:_BESTSELLER_WINDOW]
    )
    products = [_Product(*row) for row in ranked]
    bought = _already_bought(
        store=store, customer_id=customer_id, now=now, among=(p.id for p in products)
    )
    return [
        _Candidate(Pick(p.id, POPULAR_REASON, BESTSELLER), _group(p))
        for p in products
        if _eligible(p) and p.id not in excluded and p.id not in bought
    ]


def _eligible(product: _Product) -> bool:
    """In stock (untracked stock counts as in stock) and not free."""
    in_stock = product.stock is None or product.stock > 0
    return in_stock and product.price > 0


def _group(product: _Product) -> str:
    """The diversity group: the category, or the product alone when it has none."""
    return product.category or f"#product-{product.id}"


def _diverse(candidates: list[_Candidate], *, limit: int,
             chosen: list[_Candidate] | None = None) -> list[_Candidate]:
    """`chosen` extended, in order, with candidates of groups not shown yet, up to `limit`."""
    result = list(chosen or [])
    groups = {c.group for c in result}
    ids = {c.pick.product_id for c in result}
    for candidate in candidates:
        if len(result) >= limit:
            break
        if candidate.group not in groups and candidate.pick.product_id not in ids:
            result.append(candidate)
            groups.add(candidate.group)
            ids.add(candidate.pick.product_id)
    return result


def _fill(chosen: list[_Candidate], candidates: list[_Candidate], *, limit: int,
          minimum: int) -> list[_Candidate]:
    """Fill `chosen` up to `limit` with candidates of new groups; then, if still short of
    `minimum`, give up diversity to reach it."""
    result = _diverse(candidates, limit=limit, chosen=chosen)
    ids = {c.pick.product_id for c in result}
    for candidate in candidates:
        if len(result) >= minimum:
            break
        if candidate.pick.product_id not in ids:
            result.append(candidate)
            ids.add(candidate.pick.product_id)
    return result
