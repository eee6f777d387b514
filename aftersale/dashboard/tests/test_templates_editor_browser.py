"""The template editor in Debian's chromium, on a desktop and on a 390 px wide phone
screen: a merchant opens a library template, types in the subject and sees the preview
re-render for the chosen customer, switches the preview to mobile width, picks another
customer, then breaks the Jinja and sees the error with its line next to the body."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import FrameLocator, Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.messaging.tests.factories import make_customer, make_order, make_product
from aftersale.recommendations.services import fit_recommendations
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
NOW = dt.datetime.now(tz=dt.UTC)


def _email(page: Page) -> FrameLocator:
    return page.frame_locator("#preview iframe")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_edits_a_library_template_with_a_live_preview_and_sees_a_broken_line(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    mug = make_product(store, name="ENAMEL MUG 12OZ XL", price="12.00")
    grace = make_customer(store, now=NOW, first_name="Grace", email="grace@example.org")
    ada = make_customer(store, now=NOW, first_name="Ada", email="ada@example.org")
    make_order(store, grace, now=NOW - dt.timedelta(days=3), lines=[(mug, 1)])
    make_order(store, ada, now=NOW - dt.timedelta(days=1), lines=[(mug, 1)])
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/templates/")
    expect(page.get_by_role("heading", name="Thank You")).to_be_visible()
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"templates-list-{width}.png"), full_page=True)

    page.locator('[data-template="thank-you"] .template-name a').click()
    expect(page.get_by_label("Preview for")).to_have_value(str(ada.pk))  # the latest buyer
    expect(_email(page).get_by_text("Ada").first).to_be_visible()

    page.get_by_label("Subject", exact=True).fill("A little thank-you, {{ customer.first_name }}")
    expect(page.locator(".inbox-subject")).to_have_text("A little thank-you, Ada")

    page.get_by_label("Find a customer").fill("grace")
    expect(page.get_by_label("Preview for")).to_have_value(str(grace.pk))
    expect(page.locator(".inbox-subject")).to_have_text("A little thank-you, Grace")
    expect(_email(page).get_by_text("Grace").first).to_be_visible()

    frame = page.locator("#preview iframe")
    assert frame.bounding_box()["width"] == pytest.approx(600, abs=1)  # type: ignore[index]
    page.get_by_label("Mobile (375 px)").check()
    expect(frame).to_have_css("width", "375px")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"template-editor-mobile-{width}.png"), full_page=True)

    body = page.get_by_label("Body")
    source = body.input_value()
    broken = source.replace("{{", "{{ customer.first_name }", 1)
    line = source[: source.index("{{")].count("\n") + 1
    body.fill(broken)
    error = page.locator("#body-error")
    expect(error).to_contain_text(f"Line {line}:")
    expect(error).to_contain_text("syntax error")
    expect(page.locator(".preview-problem")).to_contain_text(f"line {line}")
    error.scroll_into_view_if_needed()
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"template-editor-error-{width}.png"), full_page=True)
    assert refused_by_policy == []


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_finds_a_customer_and_reads_each_strategys_picks(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    mug = make_product(store, name="ENAMEL MUG 12OZ XL", price="12.00")
    spoon = make_product(store, name="Wooden Spoon Set", price="9.00")
    for n in range(3):
        other = make_customer(store, now=NOW, email=f"buyer{n}@example.org")
        make_order(store, other, now=NOW - dt.timedelta(days=5), lines=[(spoon, 1)])
    ada = make_customer(store, now=NOW, first_name="Ada", email="ada@example.org")
    make_order(store, ada, now=NOW - dt.timedelta(days=1), lines=[(mug, 1)])
    fit_recommendations(store=store)
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/recommendations/")
    page.get_by_role("link", name="See what each strategy picks for one customer").click()
    page.get_by_label("Find a customer").fill("ada@")
    page.get_by_role("button", name="Find").click()

    expect(page.get_by_role("heading", name="For ada@example.org")).to_be_visible()
    cross_sell = page.locator('[data-strategy="cross_sell"]')
    expect(cross_sell.locator(".pick-name").first).to_contain_text("Wooden Spoon Set")
    expect(cross_sell.locator(".pick-reason").first).to_have_text("Popular with our customers")
    expect(cross_sell.locator(".pick-price").first).to_have_text("$9.00")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"customer-picks-{width}.png"), full_page=True)
    assert refused_by_policy == []
