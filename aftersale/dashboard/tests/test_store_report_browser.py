"""The Repeat purchases page in Debian's chromium: a merchant opens it from the nav, reads
the hand-computed store's repeat-purchase rate against the 32% benchmark, the cohort
chart and the heat map, and narrows it to a range of first orders (htmx swaps the panel
in place and the address follows), on a desktop and on a 390 px wide phone screen."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.store_scenarios import NOW, hand_computed_store
from aftersale.stores.services import add_member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_reads_repeat_purchases_and_cohorts_and_narrows_the_range_in_place(
    width: int,
    live_server: LiveServer,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    store = hand_computed_store()
    add_member(store=store, user=merchant)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with use_clock(VirtualClock(NOW)):
        page = open_page()
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, f"{live_server.url}/dashboard/{store.slug}/coupons/")
        page.get_by_role("link", name="Repeat purchases").click()

        expect(page.locator('[data-stat="repeat-rate"]')).to_have_text("57.1 % (4 of 7)")
        expect(page.locator('[data-stat="median-days"]')).to_have_text("29.0 days")
        expect(page.get_by_text("Benchmark 32 %: 25.1 points above it.")).to_be_visible()
        chart = page.get_by_role("img", name=re.compile("revenue per customer in EUR"))
        expect(chart).to_be_visible()
        expect(chart.locator("text.cohort-label", has_text="Jan 2024 €110.00")).to_have_count(1)
        march = page.locator('table[data-currency="EUR"] tr[data-cohort="Mar 2024"]')
        expect(march.locator("td.heat-5")).to_have_count(9)  # €135.00 from M3: the largest
        expect(page.locator('table[data-currency="GBP"]')).to_be_visible()
        page.screenshot(
            path=str(SCREENSHOTS / f"store-report-{width}.png"), full_page=True, caret="initial"
        )
        assert fits_the_screen(page)

        page.get_by_label("From (included)").fill("2024-02-01")
        page.get_by_label("Until (not included)").fill("2024-04-01")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"since=2024-02-01&until=2024-04-01"))
        expect(page.locator('[data-stat="repeat-rate"]')).to_have_text("75.0 % (3 of 4)")
        expect(page.locator('table[data-currency="EUR"] tbody tr')).to_have_count(2)
        page.screenshot(
            path=str(SCREENSHOTS / f"store-report-range-{width}.png"),
            full_page=True,
            caret="initial",
        )
        assert fits_the_screen(page)

        page.get_by_label("Until (not included)").fill("2024-01-01")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#until-error")).to_contain_text("Pick a day after the first day")
        expect(page.get_by_label("From (included)")).to_have_value("2024-02-01")
        assert fits_the_screen(page)
    assert refused_by_policy == []
