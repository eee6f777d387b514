"""The flow report's skips in Debian's chromium: a merchant sees how many emails of
each message were skipped, opens why, and reads that a journey started with every
step already overdue; on a desktop and on a 390 px wide phone screen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.test_skips import T0, _two_emails_at_once
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_sees_why_emails_were_skipped_and_the_journeys_that_started_overdue(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    flow = _two_emails_at_once(store)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with use_clock(VirtualClock(T0 + dt.timedelta(days=3))):
        page = open_page()
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, f"{live_server.url}/dashboard/{store.slug}/flows/{flow.slug}/report/")

        expect(
            page.get_by_text("1 journey started with every step already overdue")
        ).to_be_visible()
        second = page.locator('[data-step="1"]')
        expect(second.locator('[data-stat="skipped"]')).to_have_text("4")
        reason = second.locator('[data-stat="skipped-smart_sending"]')
        expect(reason).to_be_hidden()
        second.get_by_text("Why skipped").click()
        expect(reason).to_have_text("4")
        expect(second.get_by_text("Smart sending: another email too recently")).to_be_visible()
        first = page.locator('[data-step="0"]')
        first.get_by_text("Why skipped").click()
        expect(first.get_by_text("No marketing consent")).to_be_visible()
        expect(page.locator('[data-stat="revenue"]')).to_have_text("$0.00 USD")
        page.screenshot(
            path=str(SCREENSHOTS / f"flow-report-skips-{width}.png"),
            full_page=True,
            caret="initial",
        )
        assert fits_the_screen(page)
    assert refused_by_policy == []
