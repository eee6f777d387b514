"""The Connect page in Debian's chromium: a merchant creates an API key, posts an order with
it to the API, then revokes it, on a desktop and on a 390 px wide phone screen."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
ORDER = {
    "id": "1001",
    "customer": {"id": "c1", "email": "ada@example.com", "first_name": "Ada"},
    "placed_at": "2024-03-01T10:00:00Z",
    "line_items": [{"product_id": "p1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
}


def _post_order(server: str, raw_key: str) -> int:
    """POST /api/v1/orders with `raw_key`, as a shop would: the answer's status."""
    request = urllib.request.Request(
        f"{server}/api/v1/orders",
        data=json.dumps(ORDER).encode(),
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_creates_a_key_posts_an_order_with_it_and_revokes_it(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/connect/")
    expect(page.get_by_text("No API key yet.")).to_be_visible()
    page.get_by_label("Name of a new key").fill("Shopify")
    page.get_by_role("button", name="Create key").click()

    new_key = page.get_by_label("Your new API key")
    expect(new_key).to_be_visible()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"connect-new-key-{width}.png"), full_page=True)
    assert fits_the_screen(page)
    raw_key = new_key.input_value()
    assert _post_order(live_server.url, raw_key) == 201

    page.goto(f"{live_server.url}/dashboard/{store.slug}/connect/")
    key = page.locator(".key", has_text="Shopify")
    expect(key).not_to_contain_text("never")  # the order just posted used it
    expect(page.get_by_label("Your new API key")).to_have_count(0)
    page.get_by_text("Revoke…").click()
    page.screenshot(path=str(SCREENSHOTS / f"connect-revoke-{width}.png"), full_page=True)
    page.get_by_role("button", name="Revoke key “Shopify”").click()

    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(key.locator(".badge")).to_have_text("revoked")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"connect-revoked-{width}.png"), full_page=True)
    assert _post_order(live_server.url, raw_key) == 401
    assert refused_by_policy == []
