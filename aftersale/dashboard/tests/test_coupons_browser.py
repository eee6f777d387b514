"""The Coupons pages in Debian's chromium, on a desktop and on a 390 px wide phone: a
merchant reads a program's redemption rate and its flagged use, adds codes in bulk after
a refused count, and finds the CSV export, with nothing wider than the screen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.coupons.services import (
    generate_codes,
    issue_coupon,
    record_redemptions,
    save_program,
)
from aftersale.coupons.tests.test_services import customer, order
from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_reads_a_programs_redemptions_and_adds_codes_in_bulk(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    offer = save_program(
        store=store,
        slug="post-purchase-upsell",
        kind="fixed",
        amount=Decimal("5"),
        minimum_order=Decimal("25"),
    )
    codes = [issue_coupon(program=offer, customer=customer(store, n), now=T0) for n in "abc"]
    record_redemptions(
        store=store,
        orders=[
            order(store, "1001", customer="a", at=T0, codes=(codes[0].code,)),
            order(store, "1002", customer="someone-else", at=T0, codes=(codes[1].code,)),
        ],
    )
    generate_codes(program=offer, count=2, now=T0)
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/coupons/")
    program = page.locator(".coupon-program", has_text="post-purchase-upsell")
    expect(program).to_contain_text("2 of 3 (66.7 %)")
    expect(program).to_contain_text("flagged")
    page.screenshot(path=str(SCREENSHOTS / f"coupons-{width}.png"), full_page=True)
    assert fits_the_screen(page)

    program.get_by_role("link", name="post-purchase-upsell").click()
    expect(page.locator(".coupon-code.is-flagged")).to_contain_text("used by someone else")
    expect(page.get_by_role("link", name="Export all codes (CSV)")).to_be_visible()
    page.get_by_label("How many codes").fill("0")
    page.get_by_role("button", name="Add codes").click()
    expect(page.locator("#bulk-count-error")).to_contain_text("from 1 to 100,000")
    expect(page.get_by_label("How many codes")).to_have_value("0")
    page.get_by_label("How many codes").fill("120")
    page.get_by_role("button", name="Add codes").click()
    expect(page.get_by_role("status")).to_contain_text("Added 120 codes")
    expect(page.get_by_text("Page 1 of 3 · 125 codes")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"coupon-program-{width}.png"), full_page=True)
    assert fits_the_screen(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export all codes (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 126 and lines[0].startswith("code,customer_email")
    assert refused_by_policy == []
