import datetime as dt

import pytest

from aftersale.catalog.models import Product
from aftersale.recommendations.selectors import POPULAR_REASON, Pick, recommend
from aftersale.recommendations.services import fit_recommendations
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
    # History, basket, then per source read: rules, pairs, feedback, products; and names.
    customer = party.customer_id("c1")
    with django_assert_max_num_queries(12):
        picks = recommend(
            store=party.store,
            customer_id=customer,
            now=NOW,
            basket_product_ids=[party.ids["chips"], party.ids["milk"]],
        )
    assert picks[0].strategy == "bought_together"
    with django_assert_max_num_queries(16):
        picks = recommend(
            store=party.store, customer_id=customer, now=NOW, basket_product_ids=[party.ids["soap"]]
        )
    # c1 bought chips and salsa: their history speaks before the bestsellers.
    assert picks[0].strategy == "personal"
