"""The flow report in Debian's chromium: a merchant reads a flow's report, narrows it to
the last 30 days and to a range typed in the form (htmx swaps the report in place and
the address follows), on a desktop and on a 390 px wide phone screen."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.dashboard.tests.test_reports import generate_history
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.selectors import flow_report, report_range
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_reads_a_flow_report_and_narrows_its_date_range_in_place(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    flow, end = generate_history(store, customers=60, days=50, seed=7)

    since, until = report_range(store=store, since=dt.date(2024, 3, 10), until=dt.date(2024, 4, 1))
    typed = flow_report(flow=flow, now=end, since=since, until=until)
    whole = flow_report(flow=flow, now=end)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with use_clock(VirtualClock(end)):
        page = open_page()
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, f"{live_server.url}/dashboard/{store.slug}/flows/{flow.slug}/report/")

        started = page.locator('[data-stat="started"]')
        expect(started).to_have_text(f"{whole.started:,}")
        expect(page.get_by_role("img", name="Funnel")).to_be_visible()
        expect(page.locator("[data-flow-status]")).to_have_text("Live")
        page.screenshot(
            path=str(SCREENSHOTS / f"flow-report-{width}.png"), full_page=True, caret="initial"
        )
        assert fits_the_screen(page)

        page.get_by_role("link", name="Last 30 days").click()
        expect(page).to_have_url(re.compile(r"since=\d{4}-\d\d-\d\d&until="))
        expect(page.get_by_role("link", name="Last 30 days")).to_have_attribute(
            "aria-current", "true"
        )

        page.get_by_label("From (included)").fill("2024-03-10")
        page.get_by_label("Until (not included)").fill("2024-04-01")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"since=2024-03-10&until=2024-04-01"))
        expect(started).to_have_text(f"{typed.started:,}")
        expect(page.get_by_text("Journeys started 10 Mar 2024 to 1 Apr 2024")).to_be_visible()
        csv_link = page.get_by_role("link", name="Download CSV")
        expect(csv_link).to_have_attribute(
            "href",
            f"/dashboard/{store.slug}/flows/{flow.slug}/report.csv?since=2024-03-10&until=2024-04-01",
        )
        page.screenshot(
            path=str(SCREENSHOTS / f"flow-report-range-{width}.png"),
            full_page=True,
            caret="initial",
        )
        assert fits_the_screen(page)

        page.get_by_label("Until (not included)").fill("2024-03-01")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#until-error")).to_contain_text("Pick a day after the first day")
        expect(page.get_by_label("From (included)")).to_have_value("2024-03-10")
        assert fits_the_screen(page)
    assert refused_by_policy == []
