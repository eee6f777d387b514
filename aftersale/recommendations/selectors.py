"""Picking products for one email from the fitted rows and the merchant's rules (reads
only, a fixed handful of queries), and when a customer is next due to restock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial

from aftersale.catalog.models import Product
from aftersale.orders.selectors import latest_basket
from aftersale.recommendations import candidates, variety
from aftersale.recommendations.candidates import Purchase, Scored
from aftersale.recommendations.models import AssociationKind, LiveStrategy
from aftersale.recommendations.strategies import LIVE_METHODS, STRATEGIES
from aftersale.stores.models import Store

# The name flows used before there were several strategies: it means cross-sell.
_ALIASES = {"frequently_bought_together": "cross_sell"}
# The sources each strategy draws on, in order; each fills what the previous left.
_SOURCES: dict[str, tuple[str, ...]] = {
    # "mixed": the discovery picks and the basket's bought-together products in one
    # ranking (variety.blend), so discovery no longer fills every slot first.
    "cross_sell": ("complementary", "mixed", "bought_together", "personal"),
    "complementary": ("complementary",),
    "upsell": ("upsell",),
    "replenishment": ("replenishment",),
    "personal": ("personal",),
    "discovery": ("discovery",),
}
# The sources of each strategy the evaluation may put live for a task (live.py,
# strategies.LIVE_METHODS); the merchant's own complement rules always come first.
LIVE_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "cross_sell": {
        "discovery": _SOURCES["cross_sell"],
        "personal": ("complementary", "personal", "discovery", "bought_together"),
        "bought_together": ("complementary", "bought_together", "discovery", "personal"),
        "bestsellers": ("complementary", "bestseller"),
        "popularity": ("complementary", "bestseller"),
    },
    "replenishment": {
        "personal": ("replenishment",),
        "personal_frequency": ("replenishment",),
        "bestsellers": ("replenishment_popular",),
        "popularity": ("replenishment_popular",),
    },
}
assert all(set(LIVE_SOURCES[t]) == set(m) for t, m in LIVE_METHODS.items())
# Bestsellers stand in when a strategy finds too little; not in a restock email, which
# only makes sense for what is due (the flow skips it when nothing is).
_FALLBACK = ("category_bestseller", "bestseller")
_NO_FALLBACK = {"replenishment"}
# Owned products are the point of a restock, and are left out everywhere else.
_OWNED_ALLOWED = {"replenishment"}

POPULAR_REASON = "Popular with our customers"
DISCOVERY_REASON = "Popular with customers who shop like you"
_REASONS = {
    "complementary": "Goes with your {source}",
    "bought_together": "Goes with your {source}",
    "personal": "Picked for you, as you bought {source}",
    "discovery": DISCOVERY_REASON,
    "upsell": "An upgrade to your {source}",
    "replenishment": "Time to restock your {source}",
    "replenishment_popular": "Time to restock your {source}",
    "category_bestseller": "Popular in {category}",
    "bestseller": POPULAR_REASON,
}
# An upgrade costs at most this many times the product it upgrades.
UPGRADE_MAX_PRICE_RATIO = 2.0
# More ranked bestsellers than any email shows, so filters rarely exhaust them.
_BESTSELLER_WINDOW = 200
# Candidates are screened (stock, price) this many at a time, and no more than
# _MAX_SCREENED per source: an email shows four, and each id costs query time.
_WINDOW = 40
_MAX_SCREENED = 200


@dataclass(frozen=True)
class Pick:
    """One recommended product, why it was picked (shown in the email), by which source,
    and for an upgrade the product it upgrades and how much more it costs."""

    product_id: int
    reason: str
    strategy: str
    upgrade_of: int | None = None
    price_difference: Decimal | None = None

    def as_json(self) -> dict[str, object]:
        """The pick as stored on a message (prices as strings, to keep their cents)."""
        stored: dict[str, object] = {
            "product_id": self.product_id,
            "reason": self.reason,
            "strategy": self.strategy,
        }
        if self.upgrade_of is not None:
            stored["upgrade_of"] = self.upgrade_of
        if self.price_difference is not None:
            stored["price_difference"] = str(self.price_difference)
        return stored


def recommend(
    *,
    store: Store,
    customer_id: int,
    basket_product_ids: list[int],
    now: dt.datetime,
    strategy: str = "cross_sell",
    limit: int = 4,
    minimum: int = 2,
    one_per_category: bool = True,
    max_price_ratio: float | None = 3.0,
) -> list[Pick]:
    """Between `minimum` and `limit` products to show a customer who bought the basket
    (fewer only when the catalog has no more eligible products), best first.

    Strategies (see docs/recommendations.md): `cross_sell` (the merchant's complement
    rules, then the customer's discovery picks stored by the last fit ranked together
    with the products frequently bought with the basket, then items similar to the
    customer's whole history),
    `complementary`, `upsell`, `replenishment`, `personal` and `discovery`; when they give
    fewer than `minimum`, bestsellers of the customer's categories and then of the store
    fill up to `limit` (not for `replenishment`). At most one product per category unless
    `one_per_category` is off, and only if categories run out are two of one shown.
    Never shown: out-of-stock and free products, products dearer than `max_price_ratio`
    times the dearest basket product (or recent purchase); except in `replenishment`, the
    basket's products and those the customer bought at or before `now`. Products
    customers answered "not helpful" for rank lower.
    """
    strategy = _ALIASES.get(strategy, strategy)
    if strategy not in _SOURCES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    context = _Context.load(
        store=store, customer_id=customer_id, now=now, basket=basket_product_ids
    )
    screen = _Screen(context, strategy=strategy, max_price_ratio=max_price_ratio)
    groups = _Groups(one_per_category)
    chosen: list[_Candidate] = []
    passed_over: list[_Candidate] = []
    for source in live_sources(store=store, strategy=strategy):
        found = screen.eligible(source, partial(_score, context, source))
        passed_over += groups.fill(chosen, found, limit=limit)
    if len(chosen) < minimum and strategy not in _NO_FALLBACK:
        for source in _FALLBACK:
            found = screen.eligible(source, partial(_score, context, source))
            passed_over += groups.fill(chosen, found, limit=limit)
    shown = {c.product.id for c in chosen}
    spare = [c for c in passed_over if c.product.id not in shown]
    chosen += spare[: max(minimum - len(chosen), 0)]
    return _picks(store=store, chosen=chosen)


def live_sources(*, store: Store, strategy: str) -> tuple[str, ...]:
    """The sources `strategy` draws on for `store`: for `cross_sell` and `replenishment`
    those of the strategy live for the task (chosen by the evaluation of the store's
    history, or pinned: LiveStrategy), else the strategy's own. One query at most."""
    if strategy not in LIVE_SOURCES:
        return _SOURCES[strategy]
    live = (
        LiveStrategy.objects.filter(store=store, task=strategy)
        .values_list("strategy", flat=True)
        .first()
    )
    return LIVE_SOURCES[strategy].get(live or "", _SOURCES[strategy])


def replenishment_due_at(
    *, store: Store, customer_id: int, since: dt.datetime
) -> dt.datetime | None:
    """The first moment at or after `since` when a product the customer bought (at or
    before `since`) is due again: its latest purchase plus its learned repurchase
    interval. None when no product they bought has an interval or all are overdue."""
    upcoming = [
        due
        for due in candidates.due_dates(store=store, customer_id=customer_id, since=since)
        if due >= since
    ]
    return min(upcoming, default=None)


@dataclass
class _Context:
    """What one recommendation reads about the customer, once."""

    store: Store
    customer_id: int
    now: dt.datetime
    history: list[Purchase]
    basket: list[Purchase]
    scored: dict[str, list[Scored]] = field(default_factory=dict)

    @classmethod
    def load(
        cls, *, store: Store, customer_id: int, now: dt.datetime, basket: list[int]
    ) -> _Context:
        history = candidates.purchases(store=store, customer_id=customer_id, now=now)
        known = {p.product_id: p for p in history}
        missing = [pk for pk in dict.fromkeys(basket) if pk not in known]
        rows = Product.objects.filter(store=store, id__in=missing).values_list(
            "id", "category", "price", "rating"
        )
        known |= {row[0]: Purchase(*row, last=now) for row in rows} if missing else {}
        ordered = [known[pk] for pk in dict.fromkeys(basket) if pk in known]
        return cls(store, customer_id, now, history, ordered)

    @property
    def seeds(self) -> list[Purchase]:
        """What the picks relate to: the basket, or without one the recent purchases."""
        return self.basket or self.history[:10]

    @property
    def categories(self) -> list[str]:
        """The customer's categories: the basket's first, then the history's."""
        return list(dict.fromkeys(p.category for p in [*self.basket, *self.history] if p.category))


def _score(context: _Context, source: str) -> list[Scored]:
    """The candidates of one source, best first, read once per recommendation (the
    "mixed" source and the source after it both read the bought-together products)."""
    if source not in context.scored:
        context.scored[source] = _read(context, source)
    return context.scored[source]


def _read(context: _Context, source: str) -> list[Scored]:
    """The candidates of one source, best first, from the database."""
    store = context.store
    if source == "complementary":
        return candidates.complementary(store=store, seeds=context.seeds)
    if source == "bought_together":
        weights = {p.product_id: 1.0 for p in context.basket}
        return candidates.associated(
            store=store, kind=AssociationKind.BOUGHT_TOGETHER, sources=weights
        )
    if source == "personal":
        weights = candidates.personal_seeds(history=context.history, now=context.now)
        weights |= {p.product_id: 1.0 for p in context.basket}
        return candidates.associated(
            store=store, kind=AssociationKind.SIMILAR_HISTORY, sources=weights
        )
    if source == "discovery":
        return candidates.discovered(store=store, customer_id=context.customer_id)
    if source == "mixed":
        return _mixed(context)
    if source == "upsell":
        return candidates.upgrades(
            store=store, bases=context.seeds, max_price_ratio=UPGRADE_MAX_PRICE_RATIO
        )
    if source == "replenishment":
        return candidates.due_for_restock(store=store, history=context.history, now=context.now)
    if source == "replenishment_popular":
        # What is due, the store's bestsellers first.
        due = candidates.due_for_restock(store=store, history=context.history, now=context.now)
        popular = {s.product_id: s.score for s in candidates.bestsellers(store=store, limit=1000)}
        return sorted(due, key=lambda s: -popular.get(s.product_id, 0.0))
    if source == "category_bestseller":
        ranked = candidates.category_bestsellers(store=store, categories=context.categories)
        return [Scored(r.product_id, r.score) for r in ranked]
    return candidates.bestsellers(store=store, limit=_BESTSELLER_WINDOW)


def _mixed(context: _Context) -> list[Scored]:
    """The discovery picks and the basket's bought-together products ranked together
    (variety.blend, bought-together weighted variety.MIX_WEIGHT), each keeping the source
    that found it."""
    found = {
        "discovery": _score(context, "discovery"),
        "bought_together": _score(context, "bought_together"),
    }
    by_source = [{s.product_id: s for s in scored} for scored in found.values()]
    ranked = variety.blend(
        sources=[[(s.product_id, s.score) for s in scored] for scored in found.values()],
        weights=[1.0, variety.MIX_WEIGHT],
    )
    names = list(found)
    return [
        replace(by_source[index][product], score=value, origin=names[index])
        for product, value, index in ranked
    ]


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
    scored: Scored


class _Screen:
    """Filters one customer's ranked candidates down to the ones they may be shown."""

    def __init__(self, context: _Context, *, strategy: str, max_price_ratio: float | None) -> None:
        self.context = context
        owned_allowed = strategy in _OWNED_ALLOWED
        self.excluded: set[int] = set() if owned_allowed else {p.product_id for p in context.basket}
        self.owned: set[int] = set() if owned_allowed else {p.product_id for p in context.history}
        reference = max((p.price for p in context.seeds), default=None)
        self.max_price = (
            reference * Decimal(str(max_price_ratio))
            if reference and max_price_ratio is not None and not owned_allowed
            else None
        )

    def eligible(self, source: str, score: Callable[[], list[Scored]]) -> Iterator[_Candidate]:
        """The eligible candidates of `source` (scored only when first read), ranked with
        feedback applied, a window at a time: the queries for later windows run only if
        the caller reads that far. A product is yielded once across sources."""
        ranked = self._weighed([s for s in score() if self._allowed(s.product_id)])
        for start in range(0, len(ranked), _WINDOW):
            window = ranked[start : start + _WINDOW]
            products = _products(store=self.context.store, ids=[s.product_id for s in window])
            for scored in window:
                product = products.get(scored.product_id)
                if product and self._fits(product) and self._allowed(product.id):
                    self.excluded.add(product.id)
                    yield _Candidate(product, scored.origin or source, scored)

    def _allowed(self, product_id: int) -> bool:
        return product_id not in self.excluded and product_id not in self.owned

    def _fits(self, product: _Product) -> bool:
        return product.eligible and (self.max_price is None or product.price <= self.max_price)

    def _weighed(self, ranked: list[Scored]) -> list[Scored]:
        """The first _MAX_SCREENED candidates re-ranked with customers' feedback."""
        ranked = ranked[:_MAX_SCREENED]
        weights = candidates.feedback_weights(
            store=self.context.store,
            customer_id=self.context.customer_id,
            product_ids=[s.product_id for s in ranked],
        )
        if not weights:
            return ranked
        return sorted(ranked, key=lambda s: -s.score * weights.get(s.product_id, 1.0))


class _Groups:
    """The diversity rule: at most one product per category, unless turned off."""

    def __init__(self, one_per_category: bool) -> None:
        self.one_per_category = one_per_category

    def fill(
        self, chosen: list[_Candidate], candidates: Iterable[_Candidate], *, limit: int
    ) -> list[_Candidate]:
        """Extend `chosen` in place, in order, with candidates of groups not shown yet, up
        to `limit`; return those passed over for repeating a group. Reads no further than
        needed."""
        passed_over: list[_Candidate] = []
        if len(chosen) >= limit:
            return passed_over
        groups = {c.product.group for c in chosen}
        for candidate in candidates:
            if self.one_per_category and candidate.product.group in groups:
                passed_over.append(candidate)
                continue
            chosen.append(candidate)
            groups.add(candidate.product.group)
            if len(chosen) >= limit:
                break
        return passed_over


def _products(*, store: Store, ids: list[int]) -> dict[int, _Product]:
    """The store's products among `ids`, by id."""
    if not ids:
        return {}
    rows = Product.objects.filter(store=store, id__in=ids).values_list(
        "id", "name", "category", "price", "stock"
    )
    return {row[0]: _Product(*row) for row in rows}


def _picks(*, store: Store, chosen: list[_Candidate]) -> list[Pick]:
    """The chosen candidates as picks, each naming the customer's product it relates to."""
    sources = [c.scored.source for c in chosen if c.scored.source is not None]
    names = (
        dict(Product.objects.filter(store=store, id__in=sources).values_list("id", "name"))
        if sources
        else {}
    )
    return [
        Pick(
            c.product.id,
            _REASONS[c.strategy].format(
                source=names.get(c.scored.source or 0, ""), category=c.product.category
            ),
            c.strategy,
            upgrade_of=c.scored.source if c.scored.price_difference is not None else None,
            price_difference=c.scored.price_difference,
        )
        for c in chosen
    ]


# What the dashboard's per-customer page compares: the strategies the ready flows' emails
# ask for (cross-sell, upsell, replenishment, personal).
CUSTOMER_STRATEGIES: tuple[str, ...] = ("cross_sell", "upsell", "replenishment", "personal")


@dataclass(frozen=True)
class ShownPick:
    """A pick as a page shows it: the product's name as stored, its price, its reason
    and the source that found it; for an upgrade, the name of the product it upgrades
    and how much more it costs."""

    product_id: int
    external_id: str
    name: str
    price: Decimal
    reason: str
    source: str
    upgrade_of: str = ""
    price_difference: Decimal | None = None


def picks_by_strategy(
    *,
    store: Store,
    customer_id: int,
    now: dt.datetime,
    strategies: Iterable[str] = CUSTOMER_STRATEGIES,
    limit: int = 4,
) -> dict[str, list[ShownPick]]:
    """What an email of each of `strategies` would show the customer after their latest
    purchase (no cancelled or refunded order; `recommend` with that basket, as the API's
    `GET /customers/{id}/recommendations` does), each pick with its product's name and
    price, by strategy in the order given."""
    basket = latest_basket(store=store, customer_id=customer_id)
    found = {
        strategy: recommend(
            store=store,
            customer_id=customer_id,
            basket_product_ids=basket,
            now=now,
            strategy=strategy,
            limit=limit,
        )
        for strategy in strategies
    }
    ids = {p.product_id for picks in found.values() for p in picks}
    ids |= {p.upgrade_of for picks in found.values() for p in picks if p.upgrade_of}
    products = Product.objects.filter(store=store, id__in=ids).in_bulk()
    return {
        strategy: [
            ShownPick(
                product_id=pick.product_id,
                external_id=products[pick.product_id].external_id,
                name=products[pick.product_id].name,
                price=products[pick.product_id].price,
                reason=pick.reason,
                source=pick.strategy,
                upgrade_of=products[pick.upgrade_of].name if pick.upgrade_of else "",
                price_difference=pick.price_difference,
            )
            for pick in picks
            if pick.product_id in products
        ]
        for strategy, picks in found.items()
    }
