import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from aftersale.catalog.models import Product
from aftersale.recommendations import neighbours
from aftersale.recommendations.models import CustomerPick
from aftersale.recommendations.selectors import (
    DISCOVERY_REASON,
    POPULAR_REASON,
    Pick,
    recommend,
)
from aftersale.recommendations.services import fit_recommendations, load_rules
from aftersale.recommendations.tests.conftest import DAY0, Shop

NOW = DAY0 + dt.timedelta(days=7)


@pytest.fixture
def party(shop: Shop) -> Shop:
    """Chips go with salsa, then guacamole (both dips), then beer; milk sells most."""
    shop.products("chips", category="snacks")
    shop.products("salsa", "guacamole", category="dips")
    shop.products("beer", category="drinks")
    shop.products("milk", "soap", "bread")
    shop.baskets(["chips", "salsa"], times=6)
    shop.baskets(["chips", "guacamole"], times=5)
    shop.baskets(["chips", "beer"], times=4)
    shop.baskets(["milk"], times=15)
    shop.baskets(["soap"], ["bread", "milk"], times=5)
    fit_recommendations(store=shop.store)
    shop.products("stranger")
    return shop


def _recommend(shop: Shop, *basket: str, customer: str = "new", **kwargs) -> list[Pick]:
    shop.baskets(["stranger"], customer=customer, at=DAY0 - dt.timedelta(days=1))
    return shop.recommend(customer, *basket, now=NOW, **kwargs)


def _names(shop: Shop, picks: list[Pick]) -> list[str]:
    return shop.picked(picks)


def _set(shop: Shop, name: str, **fields: object) -> None:
    Product.objects.filter(pk=shop.ids[name]).update(**fields)


def test_recommend_picks_the_complement_and_names_the_basket_product_it_goes_with(party):
    picks = _recommend(party, "chips")
    assert picks[0] == Pick(party.ids["salsa"], "Goes with your Chips", "bought_together")


def test_recommend_shows_one_product_per_category(party):
    # Guacamole outscores beer, but salsa already stands for the dips.
    assert _names(party, _recommend(party, "chips")) == ["salsa", "beer"]


def test_recommend_gives_up_diversity_rather_than_fall_below_the_minimum(party):
    for name in ["beer", "milk", "soap", "bread", "stranger"]:
        _set(party, name, stock=0)
    assert _names(party, _recommend(party, "chips")) == ["salsa", "guacamole"]


def test_recommend_sums_the_scores_of_every_basket_product(party):
    picks = _recommend(party, "salsa", "guacamole")
    assert picks[0].product_id == party.ids["chips"]
    assert picks[0].reason == "Goes with your Salsa"


def test_recommend_leaves_out_products_the_customer_already_bought(party):
    party.baskets(["salsa"], customer="fan", at=NOW - dt.timedelta(hours=1))
    assert "salsa" not in _names(party, _recommend(party, "chips", customer="fan"))


def test_recommend_ignores_purchases_after_now_and_cancelled_ones(party):
    party.baskets(["salsa"], customer="fan", at=NOW + dt.timedelta(hours=1))
    party.baskets(["beer"], customer="fan", at=NOW - dt.timedelta(hours=1), cancelled=True)
    assert _names(party, _recommend(party, "chips", customer="fan")) == ["salsa", "beer"]


def test_recommend_leaves_out_out_of_stock_and_free_products(party):
    _set(party, "salsa", stock=0)
    _set(party, "guacamole", price=0)
    _set(party, "beer", stock=None)
    picks = _recommend(party, "chips")
    assert _names(party, picks)[0] == "beer"
    assert not {"salsa", "guacamole"} & set(_names(party, picks))


def test_recommend_never_shows_the_basket_products(party):
    picks = _recommend(party, "chips", "salsa", "beer", limit=4)
    assert not {"chips", "salsa", "beer"} & set(_names(party, picks))


def test_recommend_falls_back_to_bestsellers_without_co_occurrence(party):
    picks = _recommend(party, "soap", limit=4)
    assert len(picks) == 4
    assert {(p.reason, p.strategy) for p in picks} == {(POPULAR_REASON, "bestseller")}
    names = _names(party, picks)
    assert names[0] in {"milk", "chips"}
    assert "soap" not in names
    assert not {"salsa", "guacamole"} <= set(names)


def test_recommend_tops_up_too_few_complements_with_bestsellers(party):
    _set(party, "salsa", stock=0)
    _set(party, "guacamole", stock=0)
    picks = _recommend(party, "chips", limit=3, minimum=2)
    assert [p.strategy for p in picks] == ["bought_together", "bestseller", "bestseller"]
    assert _names(party, picks)[:2] == ["beer", "milk"]


def test_recommend_for_an_empty_basket_shows_bestsellers(party):
    picks = _recommend(party, limit=2)
    assert [p.strategy for p in picks] == ["bestseller", "bestseller"]


def test_recommend_returns_nothing_when_nothing_was_fitted(shop):
    shop.products("chips")
    assert _recommend(shop, "chips") == []


def test_recommend_runs_a_fixed_handful_of_queries(party, django_assert_max_num_queries):
    # History, basket, then per source read: rules, picks or pairs, feedback, products;
    # and names.
    _recommend(party, customer="new")
    with django_assert_max_num_queries(12):
        picks = recommend(
            store=party.store,
            customer_id=party.customer_id("new"),
            now=NOW,
            basket_product_ids=[party.ids["chips"], party.ids["milk"]],
        )
    assert picks[0].strategy == "bought_together"
    with django_assert_max_num_queries(10):
        picks = recommend(
            store=party.store,
            customer_id=party.customer_id("c1"),
            now=NOW,
            basket_product_ids=[party.ids["soap"]],
        )
    # c1 bought chips and salsa: the customers who shop like them speak first.
    assert picks[0].strategy == "discovery"


@pytest.fixture
def breakfast(shop: Shop) -> Shop:
    """ann bought bread and jam; bob also honey; cleo also honey and tea. Toast goes with
    butter, bought by customers unlike them."""
    shop.products("bread", "jam", "honey", "tea", "toast", "butter")
    shop.baskets(["bread", "jam"], customer="ann")
    shop.baskets(["bread", "jam", "honey"], customer="bob")
    shop.baskets(["bread", "jam", "honey", "tea"], customer="cleo")
    shop.baskets(["toast", "butter"], times=3)
    fit_recommendations(store=shop.store)
    return shop


def _breakfast(shop: Shop, *basket: str, **options: object) -> list[Pick]:
    return shop.recommend("ann", *basket, now=NOW, **options)


def test_cross_sell_shows_what_customers_who_shop_like_them_bought(breakfast):
    picks = _breakfast(breakfast, "jam")
    # Both of ann's neighbours bought honey, one bought tea.
    assert _names(breakfast, picks) == ["honey", "tea"]
    assert {(p.reason, p.strategy) for p in picks} == {(DISCOVERY_REASON, "discovery")}


def test_cross_sell_puts_the_merchants_complements_before_discovery(breakfast, tmp_path: Path):
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "kind,source_product,source_category,target_product,target_category\n"
        "complement,jam,,toast,\n"
    )
    load_rules(store=breakfast.store, path=rules)
    picks = _breakfast(breakfast, "jam")
    assert _names(breakfast, picks) == ["toast", "honey", "tea"]
    assert [p.strategy for p in picks] == ["complementary", "discovery", "discovery"]


def test_discovery_is_a_strategy_of_its_own(breakfast):
    picks = _breakfast(breakfast, "jam", strategy="discovery")
    assert _names(breakfast, picks) == ["honey", "tea"]


def test_a_send_reads_the_picks_the_fit_stored_and_computes_none(breakfast, monkeypatch):
    def refuse(**_: object) -> None:
        raise AssertionError("a send must not fit")

    monkeypatch.setattr(neighbours, "fit_discovery", refuse)
    ann = breakfast.customer_id("ann")
    CustomerPick.objects.filter(customer_id=ann, product_id=breakfast.ids["tea"]).update(
        product_id=breakfast.ids["butter"]
    )
    assert _names(breakfast, _breakfast(breakfast, "jam")) == ["honey", "butter"]


def test_a_customer_who_joined_after_the_fit_gets_the_basket_based_picks(breakfast):
    breakfast.baskets(["toast"], customer="dora", at=NOW - dt.timedelta(hours=1))
    picks = breakfast.recommend("dora", "toast", now=NOW)
    assert picks[0] == Pick(breakfast.ids["butter"], "Goes with your Toast", "bought_together")
    assert "discovery" not in {p.strategy for p in picks}


def _bought_since_the_fit(shop: Shop) -> None:
    shop.baskets(["honey"], customer="ann", at=NOW - dt.timedelta(hours=1))


def _out_of_stock(shop: Shop) -> None:
    _set(shop, "honey", stock=0)


def _dearer_than_the_price_band(shop: Shop) -> None:
    _set(shop, "honey", price=16)  # over 3x the 5.00 jam


@pytest.mark.parametrize(
    "change", [_bought_since_the_fit, _out_of_stock, _dearer_than_the_price_band]
)
def test_discovery_picks_pass_the_same_filters(breakfast, change: Callable[[Shop], None]):
    change(breakfast)
    assert _names(breakfast, _breakfast(breakfast, "jam"))[0] == "tea"
    assert "honey" not in _names(breakfast, _breakfast(breakfast, "jam"))


def test_discovery_picks_show_one_product_per_category(breakfast):
    _set(breakfast, "honey", category="pantry")
    _set(breakfast, "tea", category="pantry")
    picks = _breakfast(breakfast, "jam")
    assert _names(breakfast, picks)[0] == "honey"
    assert "tea" not in _names(breakfast, picks)


def test_cross_sell_ranks_the_baskets_bought_together_products_with_the_discovery_picks(
    breakfast,
):
    # Tea is a weak discovery pick; butter goes with the toast ann just bought.
    ann = breakfast.customer_id("ann")
    picks = CustomerPick.objects.filter(customer_id=ann)
    honey = picks.get(product_id=breakfast.ids["honey"]).score
    picks.filter(product_id=breakfast.ids["tea"]).update(score=honey / 10)
    found = _breakfast(breakfast, "toast", limit=2)
    assert _names(breakfast, found) == ["honey", "butter"]
    assert found == [
        Pick(breakfast.ids["honey"], DISCOVERY_REASON, "discovery"),
        Pick(breakfast.ids["butter"], "Goes with your Toast", "bought_together"),
    ]
