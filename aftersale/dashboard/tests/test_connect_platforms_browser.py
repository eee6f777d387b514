"""The shop platform cards of the Connect page in Debian's chromium: an owner copies the
WooCommerce webhook URL with its button, saves the signing secret, and the delivery the
platform then posts (signed) appears on the card; a malformed one is listed failed, with
its error and a Replay button; on a desktop and on a 390 px phone."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.coupons.services import issue_coupon, save_program
from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.integrations.platforms.catalog_sync import connect_shopify_admin
from aftersale.integrations.platforms.deliveries import connect_platform
from aftersale.integrations.platforms.woocommerce import sign
from aftersale.messaging.tests.factories import make_customer
from aftersale.stores.models import Store
from conftest import T0

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "wc_secret_0123456789abcdefXYZ9"
ORDER = Path(__file__).parents[2] / "integrations/tests/payloads/woocommerce/order_created.json"


def _post_delivery(url: str, body: bytes, webhook_id: str = "41") -> int:
    """POST `body` to `url` signed as WooCommerce signs it: the answer's status."""
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": sign(body=body, secret=SECRET),
            "X-WC-Webhook-ID": webhook_id,
            "X-WC-Webhook-Source": "https://shop.example.com/",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("width", [1280, 390])
def test_an_owner_copies_the_webhook_url_saves_the_secret_and_sees_the_delivery(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    settings: Any,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    settings.PUBLIC_URL = live_server.url
    webhook_url = f"{live_server.url}/webhooks/woocommerce/{store.slug}/"
    page = open_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/connect/")
    card = page.locator("#platform-woocommerce")
    expect(card.get_by_label("Webhook URL to paste into WooCommerce")).to_have_value(webhook_url)
    expect(card).to_contain_text("order.created")
    card.get_by_role("button", name="Copy URL").click()
    expect(card.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == webhook_url

    card.get_by_label("Signing secret").fill(SECRET)
    card.get_by_role("button", name="Save secret").click()
    expect(page.get_by_role("status").first).to_contain_text("secret saved")
    card = page.locator("#platform-woocommerce")
    expect(card).to_contain_text("••••XYZ9")
    expect(card).not_to_contain_text(SECRET)
    expect(card).to_contain_text("No delivery received yet.")

    assert _post_delivery(webhook_url, ORDER.read_bytes()) == 200
    page.reload()
    delivery = page.locator("#platform-woocommerce .delivery")
    expect(delivery).to_have_count(1)
    expect(delivery).to_contain_text("order.created")
    expect(delivery).to_contain_text("waiting for the worker")
    assert fits_the_screen(page)
    page.locator("#platform-woocommerce").screenshot(
        path=str(SCREENSHOTS / f"connect-platform-{width}.png")
    )
    page.screenshot(path=str(SCREENSHOTS / f"connect-platforms-{width}.png"), full_page=True)

    # A delivery that cannot be read is a dead letter: its error and a Replay button.
    assert _post_delivery(webhook_url, b"[]", webhook_id="42") == 400
    page.reload()
    failed = page.locator("#platform-woocommerce .delivery-failed")
    expect(failed).to_contain_text("not a JSON object")
    page.locator("#platform-woocommerce").screenshot(
        path=str(SCREENSHOTS / f"connect-platform-failed-{width}.png")
    )
    failed.get_by_role("button", name="Replay delivery").click()
    expect(page.get_by_role("status").first).to_contain_text("failed again: not a JSON object")
    assert fits_the_screen(page)
    assert refused_by_policy == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_shopify_card_says_how_many_coupon_codes_wait_for_the_shop(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    connect_platform(store=store, platform="shopify", secret="webhook-secret", now=T0)
    connect_shopify_admin(
        store=store, shop_domain="paper-and-co-stationery.myshopify.com", admin_token="shpat_1"
    )
    program = save_program(store=store, slug="thanks", kind="percent", amount="10")
    for n in range(3):
        customer = make_customer(store, now=T0, email=f"buyer{n}@example.com")
        issue_coupon(program=program, customer=customer, now=T0)
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/connect/")

    card = page.locator("#platform-shopify")
    expect(card.locator("#shop-admin-shopify")).to_contain_text(
        "paper-and-co-stationery.myshopify.com"
    )
    expect(card.locator("#codes-waiting")).to_contain_text("3 coupon codes wait")
    assert fits_the_screen(page)
    card.screenshot(path=str(SCREENSHOTS / f"connect-shopify-codes-waiting-{width}.png"))
    assert refused_by_policy == []
