"""The template context is built from the database, formatted for reading."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message
from aftersale.messaging.outbox.selectors import for_rendering
from aftersale.messaging.rendering.context import (
    build_context,
    context_for,
    facts_for_messages,
    shown,
)
from aftersale.messaging.rendering.render import render_message
from aftersale.messaging.tests.factories import (
    make_coupon,
    make_customer,
    make_product,
    make_scenario,
)
from aftersale.stores.models import Store


def test_customer_without_a_first_name_is_greeted_as_there(
    store: Store, clock: VirtualClock
) -> None:
    customer = make_customer(store, now=clock.now(), first_name="  ")
    scenario = make_scenario(store, now=clock.now(), customer=customer)
    context = build_context(message=scenario.message("thank-you", now=clock.now()), now=clock.now())
    assert context["customer"]["first_name"] == "there"


def test_a_customer_without_a_first_name_is_known_to_have_none_and_spaces_are_tidied(
    store: Store, clock: VirtualClock
) -> None:
    for given, first_name, has_one in [("  ", "there", False), (" Ada  Mae ", "Ada Mae", True)]:
        customer = make_customer(store, now=clock.now(), first_name=given)
        scenario = make_scenario(store, now=clock.now(), customer=customer)
        message = scenario.message("thank-you", now=clock.now())
        context = build_context(message=message, now=clock.now())
        assert context["customer"]["first_name"] == first_name
        assert context["customer"]["has_first_name"] is has_one


def test_context_holds_bought_products_picks_in_order_coupon_and_unsubscribe_url(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    message = scenario.message("cross-sell-offer", now=clock.now())
    context = build_context(message=message, now=clock.now())
    assert [p["name"] for p in context["bought"]] == ["Whole Milk", "Honey Oat Cereal"]
    assert [p["name"] for p in context["recommendations"]] == [
        "Chocolate Chip Cookies",
        "Maple Granola",
    ]
    assert context["recommendations"][0]["reason"] == "Goes with your Whole Milk"
    assert context["recommendations"][0]["price"] == "$5.00"
    assert context["recommendations"][0]["discounted_price"] == "$4.25"
    assert context["coupon"]["discount_text"] == "15% off"
    assert context["coupon"]["expires_on"] == "March 18, 2024"
    assert context["coupon"]["expires_in"] == "in 14 days"
    assert context["unsubscribe_url"].startswith("http://127.0.0.1:8000/u/")
    assert context["store"]["brand_color"] == "#1f6feb"


def test_recommendations_keep_their_order_and_skip_deleted_products(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    gone = make_product(store, name="Discontinued")
    gone_id = gone.pk
    gone.delete()
    picks = [
        {"product_id": scenario.picks[1].pk, "reason": "b"},
        {"product_id": gone_id, "reason": "gone"},
        {"product_id": scenario.picks[0].pk, "reason": "a"},
    ]
    message = scenario.message("thank-you", now=clock.now(), recommendations=picks)
    context = build_context(message=message, now=clock.now())
    assert [p["reason"] for p in context["recommendations"]] == ["b", "a"]


def test_context_needs_the_same_few_queries_for_many_products(
    store: Store, clock: VirtualClock, django_assert_max_num_queries: object
) -> None:
    scenario = make_scenario(store, now=clock.now())
    many = [make_product(store, name=f"Pick {i}") for i in range(20)]
    message = scenario.message(
        "thank-you",
        now=clock.now(),
        recommendations=[{"product_id": p.pk, "reason": ""} for p in many],
    )
    with django_assert_max_num_queries(10):  # type: ignore[operator]
        context = build_context(message=message, now=clock.now())
    assert len(context["recommendations"]) == 20


@pytest.mark.parametrize(
    ("kind", "amount", "minimum", "text", "minimum_text", "discounted"),
    [
        ("percent", "12.5", "0", "12.5% off", "", "$4.38"),
        ("fixed", "1", "30", "$1.00 off", "On orders over $30.00", "$4.00"),
        ("free_shipping", "0", "0", "Free shipping", "", None),
    ],
)
def test_coupon_terms_are_written_in_words(
    store: Store,
    clock: VirtualClock,
    kind: str,
    amount: str,
    minimum: str,
    text: str,
    minimum_text: str,
    discounted: str | None,
) -> None:
    scenario = make_scenario(store, now=clock.now())
    coupon = make_coupon(
        store, scenario.customer, now=clock.now(), kind=kind, amount=amount, minimum_order=minimum
    )
    message = scenario.message("cross-sell-offer", now=clock.now(), coupon=coupon)
    context = build_context(message=message, now=clock.now())
    assert context["coupon"]["discount_text"] == text
    assert context["coupon"]["minimum_order_text"] == minimum_text
    assert context["recommendations"][0]["discounted_price"] == discounted


def _two_customers_batch(store: Store, clock: VirtualClock) -> list[Message]:
    ada = make_scenario(store, now=clock.now())
    bob = make_scenario(
        store, now=clock.now(), customer=make_customer(store, now=clock.now(), first_name="Bob")
    )
    return [
        ada.message("cross-sell-offer", now=clock.now()),
        bob.message("cross-sell-offer", now=clock.now()),
        ada.message("order-confirmation", now=clock.now()),
    ]


def test_each_email_of_a_batch_shows_what_it_shows_alone(store: Store, clock: VirtualClock) -> None:
    messages = for_rendering(
        Message.objects.filter(id__in=[m.pk for m in _two_customers_batch(store, clock)]).order_by(
            "id"
        )
    )
    facts = facts_for_messages(messages)
    for message in messages:
        alone = build_context(message=Message.objects.get(pk=message.pk), now=clock.now())
        assert context_for(facts=facts[message.pk], now=clock.now()) == alone


def test_a_template_changing_its_context_leaves_the_next_emails_alone(
    store: Store, clock: VirtualClock
) -> None:
    messages = for_rendering(
        Message.objects.filter(id__in=[m.pk for m in _two_customers_batch(store, clock)]).order_by(
            "id"
        )
    )
    facts = facts_for_messages(messages)
    first = context_for(facts=facts[messages[0].pk], now=clock.now())
    first["store"]["name"] = "changed"
    first["store"]["social_links"].clear()
    first["phrases"]["there"] = "changed"
    first["locale"]["direction"] = "changed"
    first["bought"][0]["name"] = "changed"
    first["recommendations"][0]["price"] = "changed"
    second = context_for(facts=facts[messages[1].pk], now=clock.now())
    assert "changed" not in str(second)
    assert (
        second["store"]["social_links"]
        == build_context(message=messages[1], now=clock.now())["store"]["social_links"]
    )


@pytest.mark.parametrize("slug", ["thank-you", "cross-sell-offer", "order-confirmation"])
def test_a_product_name_with_control_characters_stored_directly_still_renders_every_email(
    store: Store, clock: VirtualClock, slug: str
) -> None:
    scenario = make_scenario(store, now=clock.now())
    # As a row written before ingest cleaned names (or by hand): straight into the table
    # (PostgreSQL refuses NUL in text, SQLite keeps it).
    name = "Tea\x00\x1b\ufffe\x01\x0b" if connection.vendor == "sqlite" else "Tea\x1b\ufffe\x01\x0b"
    for product in (scenario.picks[0], scenario.order.line_items.first().product):  # type: ignore[union-attr]
        Product.objects.filter(pk=product.pk).update(name=name)
    customer = scenario.customer
    Customer.objects.filter(pk=customer.pk).update(last_name="Lovelace\x07")
    message = scenario.message(slug, now=clock.now())
    emails = []
    for compiled in (False, True):
        with override_settings(COMPILED_EMAILS=compiled):
            emails.append(render_message(message=message, now=clock.now()))
    plain, compiled_way = emails
    assert (plain.subject, plain.html, plain.text) == (
        compiled_way.subject,
        compiled_way.html,
        compiled_way.text,
    )
    assert "Tea" in plain.text
    assert not any(c in plain.html + plain.text for c in "\x00\x1b\ufffe\x01\x0b\x07")


def test_shown_values_lose_only_what_an_email_cannot_carry() -> None:
    assert shown("Tea\x00\x1b\ufffe") == "Tea"
    assert shown("Zoë\xa0Núñez  ") == "Zoë\xa0Núñez  "  # nothing to clean: as it is
    assert shown("tab\there") == "tab\there"  # XML carries tabs and line breaks
    assert shown("tab\there\x1b") == "tab here"  # else cleaned as ingest cleans it
    assert shown("line\nbreak\x01") == "line break"


@pytest.mark.parametrize("slug", ["order-confirmation", "thank-you"])
def test_an_emails_product_links_go_to_the_variant_bought(
    store: Store, clock: VirtualClock, slug: str
) -> None:
    scenario = make_scenario(store, now=clock.now())
    milk_line, cereal_line = scenario.order.line_items.order_by("id")
    milk = milk_line.product
    Product.objects.filter(pk=milk.pk).update(variants=[{"id": "4501", "sku": "MILK-1L"}])
    milk_line.variant_id = "4501"
    milk_line.save(update_fields=["variant_id"])
    message = scenario.message(slug, now=clock.now(), order=scenario.order)

    context = build_context(message=message, now=clock.now())

    to_variant = f"{milk.url}?variant=4501"
    assert [line["url"] for line in context["order"]["lines"]] == [
        to_variant,
        cereal_line.product.url,  # no variant named: the product's page
    ]
    assert [card["url"] for card in context["bought"]] == [to_variant, cereal_line.product.url]
    emails = []
    for compiled in (False, True):
        with override_settings(COMPILED_EMAILS=compiled):
            emails.append(render_message(message=message, now=clock.now()))
    assert any(link.startswith(to_variant) for link in emails[0].links)
    assert emails[0].links == emails[1].links


def test_an_emails_line_of_a_variation_with_its_own_page_links_to_that_page(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    milk_line = scenario.order.line_items.order_by("id").first()
    assert milk_line is not None
    page = "https://shop.example.com/product/milk/?attribute_pa_size=1l"  # WooCommerce's
    Product.objects.filter(pk=milk_line.product_id).update(
        variants=[{"id": "23", "sku": "MILK-1L", "url": page}]
    )
    milk_line.variant_id = "23"
    milk_line.save(update_fields=["variant_id"])
    message = scenario.message("thank-you", now=clock.now(), order=scenario.order)

    context = build_context(message=message, now=clock.now())

    assert context["order"]["lines"][0]["url"] == page
    assert context["bought"][0]["url"] == page
