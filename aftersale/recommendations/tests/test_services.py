import dataclasses
import datetime as dt

from aftersale.orders.services import ingest_orders
from aftersale.recommendations import neighbours, services
from aftersale.recommendations.models import (
    AssociationKind,
    CustomerPick,
    ProductAssociation,
    ProductRank,
)
from aftersale.recommendations.services import fit_recommendations
from aftersale.recommendations.tests.conftest import DAY0, Shop


def _targets(shop: Shop, source: str) -> list[str]:
    rows = ProductAssociation.objects.filter(
        store=shop.store, kind=AssociationKind.BOUGHT_TOGETHER, source_id=shop.ids[source]
    ).order_by("-score")
    return shop.names(rows.values_list("target_id", flat=True))


def _picks(shop: Shop, customer: str) -> list[str]:
    rows = CustomerPick.objects.filter(store=shop.store, customer_id=shop.customer_id(customer))
    return shop.names(rows.order_by("-score").values_list("product_id", flat=True))


def _neighbourhoods(shop: Shop) -> None:
    """Two breakfast customers and two bathroom customers; each pair shares all but one
    product."""
    shop.products("bread", "jam", "honey", "soap", "shampoo", "sponge")
    shop.baskets(["bread", "jam"], customer="ann")
    shop.baskets(["bread"], ["jam", "honey"], customer="bob")
    shop.baskets(["soap", "shampoo"], customer="cat")
    shop.baskets(["soap", "shampoo", "sponge"], customer="dan")


def _grocery(shop: Shop) -> None:
    shop.products("milk", "cereal", "chips", "salsa", "soap", "bread")
    shop.baskets(["cereal", "milk"], ["chips", "salsa", "milk"], times=4)
    shop.baskets(["milk", "bread"], ["milk", "soap"], ["milk"], ["bread"], times=10)


def test_fit_prefers_the_product_bought_with_chips_over_the_ubiquitous_milk(shop):
    _grocery(shop)
    summary = fit_recommendations(store=shop.store)
    # Chips were bought with milk as often as with salsa, but milk is in most baskets.
    assert _targets(shop, "chips") == ["salsa", "milk"]
    assert _targets(shop, "cereal") == ["milk"]
    assert summary.baskets == 48
    assert summary.products == 6
    together = ProductAssociation.objects.filter(
        store=shop.store, kind=AssociationKind.BOUGHT_TOGETHER
    )
    assert summary.pairs == together.count()


def test_fit_keeps_only_top_n_targets_per_product(shop):
    shop.products("a", "b", "c", "d", "x")
    shop.baskets(["a", "b", "c", "d"], times=3)
    shop.baskets(["x"], times=10)
    fit_recommendations(store=shop.store, top_n=2)
    assert len(_targets(shop, "a")) == 2


def test_fit_ranks_bestsellers_by_distinct_customers(shop):
    shop.products("milk", "soap")
    shop.baskets(["soap"], customer="hoarder", times=5)
    shop.baskets(["milk"], times=3)
    fit_recommendations(store=shop.store)
    ranks = ProductRank.objects.filter(store=shop.store, kind="bestseller").order_by("rank")
    assert shop.names(ranks.values_list("product_id", flat=True)) == ["milk", "soap"]
    assert list(ranks.values_list("rank", flat=True)) == [1, 2]


def test_fit_until_ignores_orders_placed_at_or_after_it(shop):
    shop.products("chips", "salsa", "beer", "soap")
    shop.baskets(["chips", "salsa"], ["soap"], times=3, at=DAY0)
    later = DAY0 + dt.timedelta(days=30)
    shop.baskets(["chips", "beer"], times=3, at=later)
    summary = fit_recommendations(store=shop.store, until=later)
    assert _targets(shop, "chips") == ["salsa"]
    assert summary.baskets == 6
    ranked = ProductRank.objects.filter(store=shop.store).values_list("product_id", flat=True)
    assert "beer" not in shop.names(ranked)


def test_fit_skips_cancelled_orders(shop):
    shop.products("chips", "salsa", "beer")
    shop.baskets(["chips", "beer"], times=3, cancelled=True)
    shop.baskets(["chips", "salsa"], ["beer"], times=3)
    fit_recommendations(store=shop.store)
    assert _targets(shop, "chips") == ["salsa"]


def test_refit_replaces_the_previous_rows(shop):
    shop.products("chips", "salsa", "beer", "soap")
    shop.baskets(["chips", "salsa"], ["soap"], times=3, at=DAY0)
    fit_recommendations(store=shop.store)
    assert _targets(shop, "chips") == ["salsa"]
    # Later, chips go with beer, and salsa is mostly bought alone.
    shop.baskets(["chips", "beer"], ["salsa"], times=20, at=DAY0 + dt.timedelta(days=1))
    fit_recommendations(store=shop.store)
    assert _targets(shop, "chips") == ["beer"]
    assert ProductRank.objects.filter(store=shop.store, kind="bestseller").count() == 4


def test_fit_leaves_other_stores_alone(shop, store):
    from aftersale.stores.services import create_store

    other = Shop(
        create_store(
            physical_address="2 Test Lane, Springfield, USA", name="Other", slug="other", now=DAY0
        )
    )
    other.products("chips", "salsa", "soap")
    other.baskets(["chips", "salsa"], ["soap"], times=3)
    fit_recommendations(store=other.store)
    fit_recommendations(store=store)
    together = ProductAssociation.objects.filter(kind=AssociationKind.BOUGHT_TOGETHER)
    assert together.filter(store=other.store).count() == 2
    assert ProductAssociation.objects.filter(store=store).count() == 0


def test_fit_picks_for_each_customer_what_their_nearest_customer_bought_and_they_did_not(shop):
    _neighbourhoods(shop)
    summary = fit_recommendations(store=shop.store)
    assert _picks(shop, "ann") == ["honey"]
    assert _picks(shop, "cat") == ["sponge"]
    # Everything bob's and dan's neighbours bought, they own.
    assert _picks(shop, "bob") == _picks(shop, "dan") == []
    assert summary.customer_picks == CustomerPick.objects.filter(store=shop.store).count() == 2


def test_fit_keeps_each_customers_best_discovery_picks_first(shop, monkeypatch):
    shop.products("bread", "jam", "honey", "tea")
    shop.baskets(["bread", "jam"], customer="ann")
    shop.baskets(["bread", "jam", "honey", "tea"], customer="bob")
    shop.baskets(["bread", "jam", "honey"], customer="cleo")
    fit_recommendations(store=shop.store)
    # Both of ann's neighbours bought honey, one bought tea.
    assert _picks(shop, "ann") == ["honey", "tea"]
    monkeypatch.setattr(services, "DISCOVERY_PICKS", 1)
    fit_recommendations(store=shop.store)
    assert _picks(shop, "ann") == ["honey"]


def test_refit_replaces_the_discovery_picks_and_drops_what_the_customer_bought_since(shop):
    _neighbourhoods(shop)
    fit_recommendations(store=shop.store)
    shop.baskets(["honey"], customer="ann", at=DAY0 + dt.timedelta(days=1))
    fit_recommendations(store=shop.store)
    assert _picks(shop, "ann") == []
    assert CustomerPick.objects.filter(store=shop.store).count() == 1


def test_a_store_over_the_exact_search_limit_gets_the_same_picks_from_the_index(shop, monkeypatch):
    _neighbourhoods(shop)
    monkeypatch.setattr(services, "DISCOVERY_NEIGHBOURS", 1)
    exact = fit_recommendations(store=shop.store)
    picks = {name: _picks(shop, name) for name in ("ann", "bob", "cat", "dan")}
    monkeypatch.setattr(neighbours, "EXACT_MAX_CUSTOMERS", 2)
    approximate = fit_recommendations(store=shop.store)
    assert {name: _picks(shop, name) for name in picks} == picks
    assert picks["ann"] == ["honey"]
    assert approximate.customer_picks == exact.customer_picks == 2


def test_a_store_selling_in_two_currencies_gets_the_same_picks_from_the_index(shop, monkeypatch):
    _neighbourhoods(shop)
    # Two more customers pay in euros, one like ann, one like dan.
    records = [
        dataclasses.replace(
            shop._record(basket, who, DAY0, False), external_id=f"eur-{who}", currency="EUR"
        )
        for who, basket in (("eva", ["bread", "jam"]), ("eli", ["soap", "sponge"]))
    ]
    ingest_orders(store=shop.store, records=records, now=DAY0)
    monkeypatch.setattr(services, "DISCOVERY_NEIGHBOURS", 2)
    names = ("ann", "bob", "cat", "dan", "eva", "eli")
    exact = fit_recommendations(store=shop.store)
    picks = {name: _picks(shop, name) for name in names}
    monkeypatch.setattr(neighbours, "EXACT_MAX_CUSTOMERS", 2)
    approximate = fit_recommendations(store=shop.store)
    assert {name: _picks(shop, name) for name in names} == picks
    assert "honey" in picks["eva"] and "shampoo" in picks["eli"]
    assert approximate.customer_picks == exact.customer_picks


def test_fit_of_an_empty_history_stores_no_discovery_picks(shop):
    summary = fit_recommendations(store=shop.store)
    assert summary.customer_picks == 0
