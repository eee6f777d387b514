"""Each strategy on small hand-made histories where the right picks are known."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from aftersale.catalog.models import Product
from aftersale.recommendations.selectors import Pick, replenishment_due_at
from aftersale.recommendations.services import fit_recommendations, load_rules
from aftersale.recommendations.tests.conftest import DAY0, Shop

NOW = DAY0 + dt.timedelta(days=60)


def _rules(shop: Shop, tmp_path: Path, *lines: str) -> None:
    path = tmp_path / "rules.csv"
    header = "kind,source_product,source_category,target_product,target_category"
    path.write_text("\n".join([header, *lines]) + "\n")
    load_rules(store=shop.store, path=path)


def _picks(shop: Shop, customer: str, *basket: str, **options: object) -> list[Pick]:
    return shop.recommend(customer, *basket, now=NOW, **options)


def _names(shop: Shop, picks: list[Pick]) -> list[str]:
    return shop.picked(picks)


@pytest.fixture
def phones(shop: Shop) -> Shop:
    """Phones, their cases and chargers, and a customer who just bought the basic phone."""
    shop.products("phone", "phone_pro", "phone_max", category="phones", price="300")
    shop.products("case", "case_premium", category="cases", price="20")
    shop.products("charger", category="chargers", price="25")
    shop.products("cable", category="cables", price="10")
    shop.products("tripod", category="photo", price="40")
    shop.baskets(["phone", "cable"], times=5)
    shop.baskets(["case"], ["charger"], ["tripod"], ["phone_pro"], times=2)
    shop.baskets(["phone"], customer="ann", at=NOW - dt.timedelta(days=1))
    fit_recommendations(store=shop.store)
    return shop


def test_cross_sell_puts_the_merchants_complements_before_mined_picks(phones, tmp_path):
    _rules(phones, tmp_path, "complement,phone,,case,", "complement,,phones,,chargers")
    picks = _picks(phones, "ann", "phone")
    assert _names(phones, picks)[:3] == ["case", "charger", "cable"]
    # Every customer who shops like ann (bought the phone) bought the cable too.
    assert [p.strategy for p in picks[:3]] == ["complementary", "complementary", "discovery"]
    assert picks[0].reason == "Goes with your Phone"


def test_complementary_alone_falls_back_to_bestsellers_of_the_customers_categories(
    phones, tmp_path
):
    _rules(phones, tmp_path, "complement,,phones,,chargers")
    picks = _picks(phones, "ann", "phone", strategy="complementary")
    assert _names(phones, picks)[0] == "charger"
    # One product alone is below the minimum: the phones category's bestseller follows.
    assert picks[1] == Pick(phones.ids["phone_pro"], "Popular in phones", "category_bestseller")


def test_upsell_offers_the_next_tier_of_the_same_category_with_the_price_difference(phones):
    Product.objects.filter(pk=phones.ids["phone"]).update(rating=Decimal("4.0"))
    Product.objects.filter(pk=phones.ids["phone_pro"]).update(price=450, rating=Decimal("4.5"))
    Product.objects.filter(pk=phones.ids["phone_max"]).update(price=900, rating=Decimal("4.8"))
    picks = _picks(phones, "ann", "phone", strategy="upsell", minimum=1)
    # phone_max costs three times as much: beyond the upgrade band.
    assert picks == [
        Pick(
            phones.ids["phone_pro"],
            "An upgrade to your Phone",
            "upsell",
            upgrade_of=phones.ids["phone"],
            price_difference=Decimal("150.00"),
        )
    ]


def test_upsell_skips_a_dearer_product_rated_worse(phones):
    Product.objects.filter(pk=phones.ids["phone"]).update(rating=Decimal("4.5"))
    Product.objects.filter(pk=phones.ids["phone_pro"]).update(price=400, rating=Decimal("3.0"))
    picks = _picks(phones, "ann", "phone", strategy="upsell", minimum=0)
    assert picks == []


def test_upsell_prefers_a_product_the_merchant_marked_as_the_upgrade(phones, tmp_path):
    Product.objects.filter(pk=phones.ids["phone_pro"]).update(price=400)
    Product.objects.filter(pk=phones.ids["phone_max"]).update(price=500)
    _rules(phones, tmp_path, "upgrade,phone,,phone_max,")
    picks = _picks(phones, "ann", "phone", strategy="upsell", minimum=1, limit=1)
    assert _names(phones, picks) == ["phone_max"]
    assert picks[0].price_difference == Decimal("200.00")


@pytest.fixture
def pantry(shop: Shop) -> Shop:
    """Coffee is rebought every 10 days, detergent every 30; ann's history is set by hand."""
    shop.products("coffee", category="coffee")
    shop.products("detergent", category="laundry")
    shop.products("tea", category="tea")
    for who in ["b1", "b2", "b3"]:
        for day in (0, 10, 20):
            shop.baskets(["coffee"], customer=who, at=DAY0 + dt.timedelta(days=day))
        for day in (0, 30):
            shop.baskets(["detergent"], customer=who, at=DAY0 + dt.timedelta(days=day))
    shop.baskets(["tea"], times=3)
    return shop


def test_fit_learns_each_products_median_repurchase_interval(pantry):
    from aftersale.recommendations.models import RepurchaseInterval

    summary = fit_recommendations(store=pantry.store)
    learned = dict(RepurchaseInterval.objects.values_list("product_id", "median_days"))
    assert learned == {pantry.ids["coffee"]: 10.0, pantry.ids["detergent"]: 30.0}
    assert summary.intervals == 2


def test_replenishment_picks_owned_products_that_are_due_most_due_first(pantry):
    pantry.baskets(["coffee", "detergent", "tea"], customer="ann", at=NOW - dt.timedelta(days=9))
    pantry.baskets(["coffee"], customer="bob", at=NOW - dt.timedelta(days=40))  # lapsed
    fit_recommendations(store=pantry.store, until=NOW)
    picks = _picks(pantry, "ann", strategy="replenishment")
    # Coffee is due tomorrow; detergent not for three weeks; tea has no interval.
    assert picks == [Pick(pantry.ids["coffee"], "Time to restock your Coffee", "replenishment")]
    assert _picks(pantry, "bob", strategy="replenishment") == []


def test_replenishment_due_at_is_the_next_due_date_after_since(pantry):
    bought = NOW - dt.timedelta(days=9)
    pantry.baskets(["coffee", "detergent"], customer="ann", at=bought)
    fit_recommendations(store=pantry.store, until=NOW)
    due = replenishment_due_at(store=pantry.store, customer_id=pantry.customer_id("ann"), since=NOW)
    assert due == bought + dt.timedelta(days=10)
    later = replenishment_due_at(
        store=pantry.store, customer_id=pantry.customer_id("ann"), since=due + dt.timedelta(hours=1)
    )
    assert later == bought + dt.timedelta(days=30)
    pantry.baskets(["tea"], customer="tim", at=bought)
    assert (
        replenishment_due_at(store=pantry.store, customer_id=pantry.customer_id("tim"), since=NOW)
        is None
    )


def test_personal_draws_on_the_whole_history_not_only_the_basket(shop):
    shop.products("tent", category="camping")
    shop.products("stove", category="cooking")
    shop.products("lamp", category="lighting")
    shop.products("socks", category="clothes")
    shop.baskets(["tent"], customer="h1", at=DAY0)
    shop.baskets(["stove"], customer="h1", at=DAY0 + dt.timedelta(days=20))
    shop.baskets(["tent"], customer="h2", at=DAY0)
    shop.baskets(["stove"], customer="h2", at=DAY0 + dt.timedelta(days=30))
    shop.baskets(["lamp"], ["socks"], times=4)
    shop.baskets(["tent"], customer="ann", at=DAY0 + dt.timedelta(days=5))
    shop.baskets(["socks"], customer="ann", at=DAY0 + dt.timedelta(days=50))
    fit_recommendations(store=shop.store)
    picks = _picks(shop, "ann", "socks", strategy="personal")
    # Tent and stove were never in one basket, but the same customers bought both.
    assert picks[0] == Pick(shop.ids["stove"], "Picked for you, as you bought Tent", "personal")
    assert "tent" not in _names(shop, picks)


def test_frequently_bought_together_still_names_cross_sell(phones):
    assert _picks(phones, "ann", "phone", strategy="frequently_bought_together") == _picks(
        phones, "ann", "phone"
    )


def test_an_unknown_strategy_is_refused_with_the_choices_named(phones):
    with pytest.raises(ValueError, match=r"unknown strategy 'upgrade'.*cross_sell"):
        _picks(phones, "ann", "phone", strategy="upgrade")


def test_one_per_category_can_be_turned_off(phones, tmp_path):
    _rules(phones, tmp_path, "complement,phone,,case,", "complement,phone,,case_premium,")
    shown = _names(phones, _picks(phones, "ann", "phone", strategy="complementary", minimum=0))
    assert shown == ["case"]
    both = _picks(phones, "ann", "phone", strategy="complementary", one_per_category=False)
    assert _names(phones, both)[:2] == ["case", "case_premium"]


def test_the_price_band_leaves_out_products_far_dearer_than_the_basket(phones):
    phones.baskets(["cable"], customer="cy", at=NOW - dt.timedelta(days=1))
    shown = _names(phones, _picks(phones, "cy", "cable", limit=4, max_price_ratio=3.0))
    assert "phone" not in shown and "phone_pro" not in shown
    assert "tripod" not in shown  # 40 is more than three times the cable's 10
