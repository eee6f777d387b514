"""Recommendations per customer through Django's test client: a customer found by email,
name or id, and what each strategy would pick for them with the reason, the product's
display name and its price; the same picks the API answers."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.catalog.models import Product
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.recommendations.selectors import CUSTOMER_STRATEGIES
from aftersale.recommendations.services import fit_recommendations
from aftersale.recommendations.tests.conftest import DAY0, Shop
from aftersale.stores.models import Store
from aftersale.stores.services import create_api_key, create_store

NOW = DAY0 + dt.timedelta(days=7)


@pytest.fixture(autouse=True)
def _virtual_time() -> Iterator[None]:
    with use_clock(VirtualClock(NOW)):
        yield


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


@pytest.fixture
def party(store: Store) -> Shop:
    """Chips go with salsa (sold in capitals) and beer; milk sells most; "ada" bought
    chips last."""
    shop = Shop(store)
    shop.products("chips", category="snacks")
    shop.products("salsa", category="dips", price="3.50")
    shop.products("beer", category="drinks")
    shop.products("milk", "bread")
    shop.baskets(["chips", "salsa"], times=6)
    shop.baskets(["chips", "beer"], times=4)
    shop.baskets(["milk"], times=15)
    shop.baskets(["bread", "milk"], times=3)
    Product.objects.filter(pk=shop.ids["salsa"]).update(name="HOT TOMATO SALSA")
    fit_recommendations(store=store)
    shop.baskets(["chips"], customer="ada", at=DAY0 + dt.timedelta(days=1))
    return shop


def _url(store: Store) -> str:
    return reverse("dashboard:customer-picks", args=[store.slug])


def _strategy(page: str, key: str) -> str:
    section = page[page.index(f'data-strategy="{key}"') :]
    return section[: section.index("</section>")]


def test_the_latest_buyer_is_shown_with_every_strategys_picks_reasons_and_prices(
    signed_in: Client, store: Store, party: Shop
) -> None:
    page = html.unescape(signed_in.get(_url(store)).content.decode())

    assert "For ada@example.com" in page
    for key in CUSTOMER_STRATEGIES:
        assert f'data-strategy="{key}"' in page
    cross_sell = _strategy(page, "cross_sell")
    assert "Hot Tomato Salsa" in cross_sell and "HOT TOMATO SALSA" not in cross_sell
    assert "$3.50" in cross_sell
    assert "Goes with your Chips" in cross_sell
    assert "found by bought_together" in cross_sell


def test_the_page_shows_what_the_api_answers_for_the_same_customer(
    signed_in: Client, store: Store, party: Shop
) -> None:
    key = create_api_key(store=store, name="test", now=NOW)[1]
    page = html.unescape(signed_in.get(_url(store), {"q": "ada"}).content.decode())

    for strategy in CUSTOMER_STRATEGIES:
        answer = Client().get(
            "/api/v1/customers/ada/recommendations",
            {"strategy": strategy},
            headers={"X-API-Key": key},
        )
        section = _strategy(page, strategy)
        for pick in answer.json()["picks"]:
            assert pick["reason"] in section, (strategy, pick)
        assert section.count('class="pick"') == len(answer.json()["picks"])


def test_a_search_by_email_lists_the_matches_and_one_is_picked(
    signed_in: Client, store: Store, party: Shop
) -> None:
    listing = signed_in.get(_url(store), {"q": "example.com"}).content.decode()
    assert listing.count('<li><a href="?q=') > 2 and "For " not in listing

    customer = party.customer_id("c12")
    page = signed_in.get(_url(store), {"q": "c12@", "customer": str(customer)}).content.decode()

    assert "For c12@example.com" in page and 'aria-current="true">c12@example.com' in page


def test_a_search_by_id_finding_one_customer_shows_their_picks(
    signed_in: Client, store: Store, party: Shop
) -> None:
    page = signed_in.get(_url(store), {"q": "ada"}).content.decode()

    assert "For ada@example.com" in page


def test_a_search_that_finds_nobody_says_so(signed_in: Client, store: Store, party: Shop) -> None:
    page = signed_in.get(_url(store), {"q": "nobody-here"}).content.decode()

    assert "No customer matches" in page and "For " not in page


def test_another_stores_customer_is_not_found(
    signed_in: Client, store: Store, party: Shop, clock: VirtualClock
) -> None:
    other = create_store(name="Other", slug="other", now=clock.now())
    theirs = Shop(other)
    theirs.products("tea")
    theirs.baskets(["tea"], customer="zoe")
    zoe = theirs.customer_id("zoe")

    assert signed_in.get(_url(store), {"customer": zoe}).status_code == 404
    assert signed_in.get(_url(other)).status_code == 404


def test_the_recommendations_page_links_to_the_picks_per_customer(
    signed_in: Client, store: Store
) -> None:
    page = signed_in.get(reverse("dashboard:recommendations", args=[store.slug])).content.decode()

    assert _url(store) in page
