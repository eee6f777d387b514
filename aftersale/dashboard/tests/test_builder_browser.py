"""The flow builder in Debian's chromium, as seed 001 walks it: set up the post-purchase
upsell from Automations, create a custom coupon, keep three messages (one removed and
added back with the card buttons), save, set live; at 1280 and 390 px wide."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.flows.tests.helpers import place_order
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
FIRST_ORDERS = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_sets_up_the_upsell_with_a_custom_coupon_and_three_messages_and_sets_it_live(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    for n, name in enumerate(("ada", "grace", "linus")):
        place_order(store, order_id=f"o{n}", customer=name, at=FIRST_ORDERS + dt.timedelta(n))
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/automations/")
    expect(page.get_by_role("heading", name="Ready flows")).to_be_visible()
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"automations-{width}.png"), full_page=True)
    page.get_by_role("button", name="Set up Post-purchase upsell").click()

    expect(page.get_by_role("status")).to_contain_text("set up as a draft")
    expect(page.locator("#qualifying")).to_contain_text("3 customers qualify today")
    expect(page.locator("#qualifying")).to_contain_text("l••••@example.com")
    page.get_by_label("Create a custom coupon").check()
    page.get_by_label("Kind").select_option("percent")
    page.get_by_label("Value (% or amount)").fill("20")
    page.get_by_label("Minimum order", exact=True).fill("30")
    page.get_by_label("Expires (days after the send)").fill("10")
    page.get_by_label("Code prefix").fill("WELCOME")

    # The third message goes, and comes back through "Add: Message" (htmx swaps the cards).
    page.get_by_role("button", name="Remove card 5").click()
    expect(page.locator(".step-card")).to_have_count(2)
    page.locator(".add-cards").get_by_role("button", name="Message").click()
    expect(page.locator(".step-card")).to_have_count(3)
    third = page.locator("#card-2")
    expect(third.locator(".timing")).to_have_text("Sent 4 days 2 hours after the first purchase")
    # A bad delay is refused next to its field, and nothing typed is lost.
    third.get_by_label("Days", exact=True).fill("three")
    page.get_by_role("button", name="Save as draft").click()
    third = page.locator("#card-2")
    expect(third.locator("#steps-2-delay-days-error")).to_contain_text("Type a number")
    expect(third.get_by_label("Days", exact=True)).to_have_value("three")
    expect(page.get_by_label("Code prefix")).to_have_value("WELCOME")
    expect(third.locator("#steps-2-template-error")).to_be_visible()  # none chosen yet
    expect(page.locator("#problems")).to_contain_text("Not saved: 2 things to fix.")
    assert fits_the_screen(page)
    third.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"flow-builder-error-{width}.png"))
    third.get_by_label("Days", exact=True).fill("4")
    third.get_by_label("Template").select_option("offer-reminder")
    third.locator("select[name='steps-2-coupon']").select_option("remind")
    # Changing a delay refreshes the timing lines in place.
    expect(third.locator(".timing")).to_have_text("Sent 7 days 2 hours after the first purchase")
    expect(page.get_by_label("Code prefix")).to_have_value("WELCOME")  # nothing typed was lost

    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2.")
    expect(page.get_by_label("Code prefix")).to_have_value("WELCOME")
    expect(page.locator("#card-2").get_by_label("Template")).to_have_value("offer-reminder")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"flow-builder-{width}.png"), full_page=True)

    page.get_by_role("button", name="Set live").click()
    expect(page.get_by_role("status")).to_contain_text("The flow is live")
    expect(page.locator("h1 .status")).to_have_text("live")
    page.goto(f"{live_server.url}/dashboard/{store.slug}/automations/")
    expect(page.locator(".flow-row", has_text="Post-purchase upsell")).to_contain_text("live")
    assert fits_the_screen(page)
    assert refused_by_policy == []


def test_only_the_fields_of_the_chosen_split_condition_and_coupon_show(
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    page = open_page()
    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/flows/new/")

    expect(page.get_by_label("Kind")).to_be_hidden()  # no coupon picked
    page.get_by_label("Create a custom coupon").check()
    expect(page.get_by_label("Kind")).to_be_visible()
    page.locator(".add-cards").get_by_role("button", name="Conditional split").click()
    split = page.locator("#card-1")
    expect(split.get_by_label("Of email step (id; empty: any)")).to_be_visible()
    expect(split.get_by_label("Order value from")).to_be_hidden()
    split.get_by_label("When the customer").select_option("order_value")
    expect(split.get_by_label("Order value from")).to_be_visible()
    expect(split.get_by_label("Of email step (id; empty: any)")).to_be_hidden()
    assert refused_by_policy == []
