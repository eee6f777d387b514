"""The evaluation of a store's own history decides which strategy its emails use, and
says why; a merchant may pin another."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.recommendations.live import (
    evaluate_due_stores,
    evaluate_store,
    live_strategies,
    pin_strategy,
)
from aftersale.recommendations.models import FitRun, LiveStrategy
from aftersale.recommendations.selectors import POPULAR_REASON, live_sources, recommend
from aftersale.recommendations.services import fit_recommendations
from aftersale.stores.models import Store
from aftersale.stores.services import add_member

START = dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)


def _history(kind: str, customers: int = 120, seed: int = 0):
    """(customer, placed, products) orders, six per customer 45 days apart, in 12
    clusters of customers.

    "popularity": each order holds the customer's two staples and one of 20 products
    drawn by global popularity (Zipf); the first two also hold three of the cluster's
    one-off products, which neighbours share and nobody buys again: the next new product
    is a popular one, not one the neighbours bought.
    "discovery": each order holds three of the cluster's 12 products and one of three
    that everyone buys: the next new product is one the neighbours bought."""
    rng = np.random.default_rng(seed)
    zipf = 1 / np.arange(1, 21)
    zipf /= zipf.sum()
    for c in range(customers):
        cluster = c % 12
        first = rng.uniform(0, 45)
        staples = rng.choice(6, 2, replace=False) + 100 + 10 * cluster
        for i in range(6):
            placed = START + dt.timedelta(days=first + 45 * i)
            if kind == "popularity":
                items = [*staples.tolist(), int(rng.choice(20, p=zipf))]
                if i < 2:
                    items += (rng.choice(12, 3, replace=False) + 500 + 20 * cluster).tolist()
            else:
                cluster_items = rng.choice(12, 3, replace=False) + 1000 + 20 * cluster
                items = [*cluster_items.tolist(), int(rng.integers(0, 3))]
            yield c, placed, sorted(set(items))


def _shop(slug: str, kind: str) -> Store:
    store = Store.objects.create(slug=slug, name=slug.title(), created_at=START)
    orders = list(_history(kind))
    products = sorted({p for _, _, items in orders for p in items})
    upsert_products(
        store=store,
        records=[ProductRecord(f"p{p}", f"Product {p}", price=Decimal("5.00")) for p in products],
    )
    records = [
        OrderRecord(
            external_id=f"o{n}",
            customer=CustomerRecord(f"c{c}", f"c{c}@example.com"),
            placed_at=placed,
            line_items=tuple(LineItemRecord(f"p{p}", 1, Decimal("5.00")) for p in items),
        )
        for n, (c, placed, items) in enumerate(orders)
    ]
    ingest_orders(store=store, records=records, now=NOW)
    return store


def _owner(store, django_user_model):
    user = django_user_model.objects.create_user(username="owner", password="pw-12345678")
    add_member(store=store, user=user)
    return user


@pytest.mark.django_db
def test_a_store_whose_history_favours_popularity_gets_popularity_live_with_the_reason(
    client, django_user_model
):
    store = _shop("populars", "popularity")
    cross_sell, replenishment = evaluate_store(store=store, now=NOW)

    assert cross_sell.task == "cross_sell"
    assert cross_sell.strategy in {"bestsellers", "popularity"}
    assert cross_sell.default == "discovery"
    assert "better beyond noise" in cross_sell.reason
    assert cross_sell.figures["low"] > 1.0
    assert cross_sell.decided_at == NOW and cross_sell.run is not None
    assert replenishment.strategy == "personal"
    # The emails' cross-sell picks are now the store's bestsellers.
    fit_recommendations(store=store, until=NOW)
    assert live_sources(store=store, strategy="cross_sell") == ("complementary", "bestseller")
    customer = Customer.objects.filter(store=store).order_by("pk")[0]
    picks = recommend(store=store, customer_id=customer.pk, basket_product_ids=[], now=NOW)
    assert picks and all(p.reason == POPULAR_REASON for p in picks)
    # The dashboard says what is live and why.
    client.force_login(_owner(store, django_user_model))
    page = client.get(reverse("dashboard:recommendations", args=[store.slug])).content.decode()
    assert f"<strong>{cross_sell.strategy}</strong>" in page
    assert "chosen by evaluation" in page
    assert cross_sell.reason.split(":")[0] in page


@pytest.mark.django_db
def test_a_store_whose_history_favours_discovery_keeps_discovery_live_with_the_reason():
    store = _shop("neighbours", "discovery")
    cross_sell, _ = evaluate_store(store=store, now=NOW)

    assert cross_sell.strategy == "discovery"
    assert cross_sell.reason.startswith("discovery (the default)")
    # The discovery picks, ranked together with the basket's bought-together products.
    assert live_sources(store=store, strategy="cross_sell")[1] == "mixed"


@pytest.mark.django_db
def test_a_pinned_strategy_stays_live_through_evaluations_and_unpinning_restores_the_choice(
    store,
):
    decided = LiveStrategy.objects.create(
        store=store,
        task="cross_sell",
        strategy="bestsellers",
        default="discovery",
        reason="bestsellers reached ...: better beyond noise",
        evaluated_strategy="bestsellers",
        evaluated_reason="bestsellers reached ...: better beyond noise",
        decided_at=NOW,
    )
    pinned = pin_strategy(store=store, task="cross_sell", strategy="personal", now=NOW)
    assert pinned.pk == decided.pk and pinned.pinned
    assert pinned.reason == "pinned by the merchant on 2024-10-01"
    assert live_sources(store=store, strategy="cross_sell")[1] == "personal"

    unpinned = pin_strategy(store=store, task="cross_sell", strategy=None, now=NOW)
    assert (unpinned.strategy, unpinned.pinned) == ("bestsellers", False)
    assert unpinned.reason.endswith("better beyond noise")


@pytest.mark.django_db
def test_the_cli_pins_and_lists_the_live_strategies(store, capsys):
    call_command(
        "recommendations",
        "live",
        "--store",
        store.slug,
        "--task",
        "replenishment",
        "--pin",
        "popularity",
    )
    out = capsys.readouterr().out
    assert f"{store.slug} cross_sell: discovery;" in out
    assert "replenishment: popularity (pinned)" in out
    assert live_sources(store=store, strategy="replenishment") == ("replenishment_popular",)


@pytest.mark.django_db
def test_the_dashboard_form_pins_a_strategy(client, django_user_model, store):
    client.force_login(_owner(store, django_user_model))
    url = reverse("dashboard:live-strategy-pin", args=[store.slug])
    response = client.post(url, {"task": "cross_sell", "strategy": "popularity"}, follow=True)
    page = response.content.decode()
    assert "<strong>popularity</strong>" in page and "pinned" in page
    assert [s.strategy for s in live_strategies(store=store)] == ["popularity", "personal"]
    client.post(url, {"task": "cross_sell", "strategy": ""})
    assert live_strategies(store=store)[0].strategy == "discovery"


@pytest.mark.django_db
def test_the_worker_evaluates_each_store_once_a_week(store):
    FitRun.objects.create(store=store)
    first = evaluate_due_stores(now=NOW)
    # The test store has no orders: evaluated, and said why nothing was decided.
    assert [(s.slug, said.split(":")[0]) for s, said in first] == [(store.slug, "not evaluated")]
    assert evaluate_due_stores(now=NOW + dt.timedelta(days=6)) == []
    assert len(evaluate_due_stores(now=NOW + dt.timedelta(days=7))) == 1


@pytest.mark.django_db
def test_evaluate_store_quick_chooses_its_own_cuts_and_says_what_goes_live(tmp_path, capsys):
    store = _shop("populars", "popularity")
    call_command("evaluate", "--store", store.slug, "--quick", "--chart", str(tmp_path / "c.png"))
    log = capsys.readouterr().err
    assert "cuts: test from" in log
    live = LiveStrategy.objects.get(store=store, task="cross_sell")
    assert f"live cross_sell: {live.strategy}; {live.reason}" in log
    assert live.run is not None and live.run.store_id == store.pk
