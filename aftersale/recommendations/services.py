"""Fitting recommendations from a store's order history (bulk writes; a send only reads)."""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Q, QuerySet

from aftersale.catalog.models import Product
from aftersale.recommendations.models import (
    AssociationKind,
    ComplementRule,
    CustomerPick,
    FitRun,
    ProductAssociation,
    ProductRank,
    RecommendationFeedback,
    RepurchaseInterval,
    RuleKind,
)
from aftersale.stores.models import Store

# NumPy, pandas and SciPy (and the modules built on them: cooccurrence, neighbours, topk,
# orders.selectors) are imported inside the fit's functions, not here: every command and
# the worker reach this module (the send path reads BESTSELLER, the worker calls
# fit_due_stores), and importing them would add a second to each start even when no fit
# is due.
if TYPE_CHECKING:
    import numpy as np

    from aftersale.recommendations import neighbours
    from aftersale.recommendations.cooccurrence import IntArray, Intervals, PairScores, Ranking

BESTSELLER = "bestseller"
CATEGORY_BESTSELLER = "category_bestseller"

# Enough per category for an email's fallback after filters (stock, already bought).
_PER_CATEGORY = 20
FIT_EVERY = dt.timedelta(days=1)
_INSERT_BATCH = 20_000
# Discovery (user-KNN over whole histories, neighbours.fit_discovery) with the settings
# the offline evaluation chose on the Complete Journey's validation cut for cross-sell
# (docs/recommendations.md).
DISCOVERY_NEIGHBOURS = 100
DISCOVERY_POPULARITY_EXPONENT = 0.2
DISCOVERY_HALF_LIFE_DAYS = 120.0
# Customers compared on square-rooted counts, so weekly staples do not drown out the rest
# of their taste (chosen on three validation cuts; see neighbours.recency_vectors).
DISCOVERY_COUNT_EXPONENT = 0.5
# Picks kept per customer: an email shows four, after the send's filters (stock, price
# band, one per category, bought since the fit) have passed over some.
DISCOVERY_PICKS = 24


@dataclass(frozen=True)
class FitSummary:
    """What a fit read and wrote: baskets and distinct products read, bought-together
    and similar-history pairs, discovery picks and repurchase intervals written."""

    baskets: int
    products: int
    pairs: int
    similar_pairs: int
    customer_picks: int
    intervals: int
    seconds: float


@dataclass(frozen=True)
class _History:
    """Line-level arrays of the order history a fit reads."""

    orders: IntArray
    customers: IntArray
    products: IntArray
    age_days: np.ndarray


@dataclass(frozen=True)
class _Picks:
    """Discovery picks: one (customer id, product id, score) per entry, each customer's
    best first."""

    customers: IntArray
    products: IntArray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.customers)


@dataclass(frozen=True)
class _Fitted:
    """Everything one fit writes."""

    pairs: PairScores
    similar: PairScores
    picks: _Picks
    ranking: Ranking
    category_ranking: Ranking
    intervals: Intervals


def fit_recommendations(
    *,
    store: Store,
    until: dt.datetime | None = None,
    top_n: int = 20,
    bestsellers: int = 200,
) -> FitSummary:
    """Mine the store's sold orders (those placed before `until` when given) and replace
    everything a send reads: "bought together" pairs and "similar history" pairs (the
    `top_n` best per product), each customer's DISCOVERY_PICKS discovery picks, the
    `bestsellers` ranking and each category's bestsellers, and the repurchase intervals.
    Either all rows are replaced or none."""
    started = time.perf_counter()
    history = _read_history(store=store, until=until)
    fitted = _fit(store=store, history=history, top_n=top_n, bestsellers=bestsellers)
    with transaction.atomic():
        _replace_associations(store=store, kind=AssociationKind.BOUGHT_TOGETHER, pairs=fitted.pairs)
        _replace_associations(
            store=store, kind=AssociationKind.SIMILAR_HISTORY, pairs=fitted.similar
        )
        _replace_picks(store=store, picks=fitted.picks)
        _replace_ranking(store=store, kind=BESTSELLER, ranking=fitted.ranking)
        _replace_ranking(store=store, kind=CATEGORY_BESTSELLER, ranking=fitted.category_ranking)
        _replace_intervals(store=store, intervals=fitted.intervals)
    return FitSummary(
        baskets=fitted.pairs.baskets,
        products=fitted.pairs.products,
        pairs=len(fitted.pairs),
        similar_pairs=len(fitted.similar),
        customer_picks=len(fitted.picks),
        intervals=len(fitted.intervals.product),
        seconds=time.perf_counter() - started,
    )


def fit_due_stores(*, now: dt.datetime) -> list[tuple[Store, FitSummary]]:
    """Fit every store whose last fit is `FIT_EVERY` old (or which was never fitted) on
    its orders placed before `now`. Each due fit is claimed first by moving the store's
    FitRun forward with a conditional UPDATE, so of many workers only one runs it. When
    nothing is due this costs two queries, however many stores there are."""
    never = Store.objects.exclude(pk__in=FitRun.objects.values("store_id"))
    FitRun.objects.bulk_create([FitRun(store=s) for s in never], ignore_conflicts=True)
    due = FitRun.objects.filter(Q(fitted_at__isnull=True) | Q(fitted_at__lte=now - FIT_EVERY))
    done = []
    for store_id in due.order_by("store_id").values_list("store_id", flat=True):
        claimed = due.filter(store_id=store_id).update(fitted_at=now)
        if claimed:
            store = Store.objects.get(pk=store_id)
            summary = fit_recommendations(store=store, until=now)
            FitRun.objects.filter(store=store).update(seconds=summary.seconds)
            done.append((store, summary))
    return done


def _fit(*, store: Store, history: _History, top_n: int, bestsellers: int) -> _Fitted:
    """The fitted arrays: pure NumPy/SciPy on the history (no database)."""
    from aftersale.recommendations.cooccurrence import (
        Ranking,
        rank_bestsellers,
        repurchase_intervals,
        score_pairs,
        similar_items,
        top_per_group,
    )

    customers, products, age = history.customers, history.products, history.age_days
    ranking = rank_bestsellers(
        customers=customers, products=products, age_days=age, limit=len(products)
    )
    categories = _category_codes(store=store, products=ranking.product)
    by_category = top_per_group(categories, ranking.score, _PER_CATEGORY)
    picks = _discovery_picks(history=history, per_customer=DISCOVERY_PICKS)
    return _Fitted(
        pairs=score_pairs(
            baskets=history.orders, products=products, top_n=top_n, threads=settings.FIT_THREADS
        ),
        similar=similar_items(
            customers=customers,
            baskets=history.orders,
            products=products,
            age_days=age,
            top_n=top_n,
        ),
        picks=picks,
        ranking=Ranking(ranking.product[:bestsellers], ranking.score[:bestsellers]),
        category_ranking=Ranking(ranking.product[by_category], ranking.score[by_category]),
        intervals=repurchase_intervals(
            customers=customers, baskets=history.orders, products=products, age_days=age
        ),
    )


def _no_picks() -> _Picks:
    import numpy as np

    empty = np.empty(0, dtype=np.int64)
    return _Picks(empty, empty, np.empty(0))


def _discovery_picks(*, history: _History, per_customer: int) -> _Picks:
    """Each customer's `per_customer` best products by neighbours.discovery_picks (the
    scoring the offline evaluation measures) among those scoring above zero that they
    never bought. Any number of customers: above neighbours.EXACT_MAX_CUSTOMERS the
    neighbour search is approximate, and customers are scored a block at a time, so
    time and memory grow with the customers, not their square."""
    from aftersale.recommendations import neighbours

    if not len(history.orders):
        return _no_picks()
    customer_ids, product_ids, lines = _distinct_lines(history)
    picks = neighbours.discovery_picks(
        lines=lines,
        per_customer=per_customer,
        neighbours=DISCOVERY_NEIGHBOURS,
        popularity_exponent=DISCOVERY_POPULARITY_EXPONENT,
        half_life_days=DISCOVERY_HALF_LIFE_DAYS,
        count_exponent=DISCOVERY_COUNT_EXPONENT,
        threads=settings.FIT_THREADS,
    )
    return _Picks(
        customers=customer_ids[picks.rows],
        products=product_ids[picks.columns],
        scores=picks.scores,
    )


def _distinct_lines(history: _History) -> tuple[IntArray, IntArray, neighbours.Lines]:
    """The customer ids and product ids of the history's rows and columns, and its lines,
    one per (basket, product) as the offline evaluation reads them."""
    import numpy as np

    from aftersale.recommendations import neighbours

    customer_ids, rows = np.unique(history.customers, return_inverse=True)
    product_ids, columns = np.unique(history.products, return_inverse=True)
    _, distinct = np.unique(history.orders * len(product_ids) + columns, return_index=True)
    lines = neighbours.Lines(
        customers=rows[distinct],
        products=columns[distinct],
        age_days=np.asarray(history.age_days[distinct], dtype=np.float64),
        shape=(len(customer_ids), len(product_ids)),
    )
    return customer_ids, product_ids, lines


def _category_codes(*, store: Store, products: IntArray) -> IntArray:
    """A code per product's category, in the order of `products`; products without a
    category each get a code of their own (they compete with nobody)."""
    import numpy as np
    import pandas as pd

    category = dict(Product.objects.filter(store=store).values_list("id", "category"))
    names = [category.get(p) or f"#product-{p}" for p in products.tolist()]
    codes, _ = pd.factorize(pd.Series(names, dtype=object))
    return np.asarray(codes, dtype=np.int64)


def _read_history(*, store: Store, until: dt.datetime | None) -> _History:
    """Every line of the store's purchases before `until`, as arrays."""
    import numpy as np

    from aftersale.orders.selectors import purchase_lines

    lines = purchase_lines(store=store, until=until)
    if not len(lines.order):
        empty = np.empty(0, dtype=np.int64)
        return _History(empty, empty, empty, np.empty(0))
    # Recency is measured from the fit's horizon, not the wall clock: a fit of old data
    # (or a backtest) weighs orders as they were then.
    horizon = until.timestamp() if until is not None else float(lines.placed_at.max())
    return _History(
        orders=lines.order,
        customers=lines.customer,
        products=lines.product,
        age_days=(horizon - lines.placed_at) / 86_400.0,
    )


def _replace_associations(*, store: Store, kind: AssociationKind, pairs: PairScores) -> None:
    """Swap the store's association rows of `kind` for `pairs` (caller holds a
    transaction)."""
    rows = zip(
        pairs.source.tolist(),
        pairs.target.tolist(),
        pairs.score.tolist(),
        pairs.support.tolist(),
        strict=True,
    )
    _replace_rows(
        ProductAssociation.objects.filter(store=store, kind=kind),
        ["store_id", "kind", "source_id", "target_id", "score", "support"],
        ((store.pk, str(kind), *row) for row in rows),
    )


def _replace_picks(*, store: Store, picks: _Picks) -> None:
    """Swap the store's discovery picks for `picks` (caller holds a transaction)."""
    rows = zip(
        picks.customers.tolist(), picks.products.tolist(), picks.scores.tolist(), strict=True
    )
    _replace_rows(
        CustomerPick.objects.filter(store=store),
        ["store_id", "customer_id", "product_id", "score"],
        ((store.pk, *row) for row in rows),
    )


def _replace_ranking(*, store: Store, kind: str, ranking: Ranking) -> None:
    """Swap the store's ranking of `kind` for `ranking`, numbered in its order (caller
    holds a transaction)."""
    rows = zip(ranking.product.tolist(), ranking.score.tolist(), strict=True)
    _replace_rows(
        ProductRank.objects.filter(store=store, kind=kind),
        ["store_id", "kind", "product_id", "rank", "score"],
        ((store.pk, kind, product, rank, score) for rank, (product, score) in enumerate(rows, 1)),
    )


def _replace_intervals(*, store: Store, intervals: Intervals) -> None:
    """Swap the store's repurchase intervals (caller holds a transaction)."""
    rows = zip(
        intervals.product.tolist(),
        intervals.median_days.tolist(),
        intervals.repeat_customers.tolist(),
        strict=True,
    )
    _replace_rows(
        RepurchaseInterval.objects.filter(store=store),
        ["store_id", "product_id", "median_days", "repeat_customers"],
        ((store.pk, *row) for row in rows),
    )


def _replace_rows(
    old: QuerySet[Any, Any], columns: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Delete the `old` rows, then insert plain tuples into their table with executemany.

    bulk_create builds a model instance per row, which for the hundreds of thousands of
    pairs of a real store costs more than the whole fit.
    """
    old.delete()
    model = old.model
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    names = [quote(meta.get_field(c.removesuffix("_id")).column) for c in columns]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(names)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) >= _INSERT_BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


class InvalidRules(ValueError):
    """A rules file that cannot be loaded; the message names the line and the column."""


_RULE_COLUMNS = ("source_product", "source_category", "target_product", "target_category")


def load_rules(*, store: Store, path: Path) -> int:
    """Replace the store's merchant rules with those of the CSV file at `path` and return
    how many there are.

    Columns: `kind` (`complement`, the default, or `upgrade`), and one of
    `source_product` (the store's product id) or `source_category`, and one of
    `target_product` or `target_category`. Every line is checked before anything is
    written: a bad line raises InvalidRules naming it, and the old rules stay.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(_RULE_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InvalidRules(f"{path}: missing columns {', '.join(sorted(missing))}")
        lines = list(enumerate(reader, start=2))
    product_ids = dict(Product.objects.filter(store=store).values_list("external_id", "id"))
    rules = [_rule(store, product_ids, row, where=f"{path}:{line}") for line, row in lines]
    with transaction.atomic():
        ComplementRule.objects.filter(store=store).delete()
        ComplementRule.objects.bulk_create(rules)
    return len(rules)


def _rule(
    store: Store, product_ids: dict[str, int], row: dict[str, str], *, where: str
) -> ComplementRule:
    """One CSV line as a rule, or InvalidRules saying what is wrong with it."""
    kind = (row.get("kind") or RuleKind.COMPLEMENT).strip()
    if kind not in RuleKind.values:
        raise InvalidRules(f"{where}: kind {kind!r} is not one of {', '.join(RuleKind.values)}")
    ends: dict[str, Any] = {}
    for end in ("source", "target"):
        product = (row.get(f"{end}_product") or "").strip()
        category = (row.get(f"{end}_category") or "").strip()
        if bool(product) == bool(category):
            raise InvalidRules(f"{where}: give exactly one of {end}_product and {end}_category")
        if product and product not in product_ids:
            raise InvalidRules(f"{where}: {end}_product {product!r} is not in the catalog")
        ends[f"{end}_product_id"] = product_ids.get(product)
        ends[f"{end}_category"] = category
    return ComplementRule(store=store, kind=kind, **ends)


class SentPicks(Protocol):
    """What feedback needs of a sent email (a messaging.Message, which this app sits
    below and does not import): whose it is and what it recommended."""

    pk: Any
    store_id: int
    customer_id: int
    recommendations: Any


def record_feedback(
    *, message: SentPicks, product_id: int, helpful: bool, now: dt.datetime
) -> RecommendationFeedback:
    """Record the recipient's answer to "Was this helpful?" for one pick of `message`;
    a second answer replaces the first. Refuses (ValueError) a product the message did
    not recommend."""
    picked = {p.get("product_id") for p in message.recommendations if isinstance(p, dict)}
    if product_id not in picked:
        raise ValueError(f"message {message.pk} did not recommend product {product_id}")
    feedback, _ = RecommendationFeedback.objects.update_or_create(
        message_id=message.pk,
        product_id=product_id,
        defaults={
            "store_id": message.store_id,
            "customer_id": message.customer_id,
            "helpful": helpful,
            "answered_at": now,
        },
    )
    return feedback


def erase_customer_picks(*, customer_id: int) -> None:
    """Delete what the last fit found for the customer (their discovery picks): a
    profile of their taste. Their "was this helpful" answers stay, tied to no one once
    the customer is erased."""
    CustomerPick.objects.filter(customer_id=customer_id).delete()


def move_product_rules(*, store: Store, moves: dict[int, int]) -> None:
    """Make the merchant's rules and the recipients' answers about products `moves`'s
    keys ({product folded away: the product it now is}) be about the products it names
    (a rule that would tie a product to itself is dropped; an answer the message has
    about that product already wins), and make the store's fit due, so the rows the last
    fit made (picks, pairs, rankings, intervals) are rebuilt on the moved order lines
    by the worker's next pass."""
    if not moves:
        return
    sources = list(moves)
    for side in ("source_product", "target_product"):
        other = "target_product" if side == "source_product" else "source_product"
        rules = ComplementRule.objects.filter(store=store, **{f"{side}_id__in": sources})
        for rule in rules:
            setattr(rule, f"{side}_id", moves[getattr(rule, f"{side}_id")])
            if getattr(rule, f"{side}_id") == getattr(rule, f"{other}_id"):
                rule.delete()
            else:
                rule.save(update_fields=[side])
    answers = RecommendationFeedback.objects.filter(store=store, product_id__in=sources)
    for answer in answers:
        target = moves[answer.product_id]
        if RecommendationFeedback.objects.filter(
            message_id=answer.message_id, product_id=target
        ).exists():
            answer.delete()
        else:
            answer.product_id = target
            answer.save(update_fields=["product"])
    FitRun.objects.filter(store=store).update(fitted_at=None)
