"""What a flow caused, in Debian's chromium: the flow report page shows the revenue
its emails earned (attribution) and the incremental revenue against the holdout with
its 95% interval by both methods, the two groups and the A/B variants, on a desktop and
on a 390 px wide phone screen."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.money import money
from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.flows.models import Flow
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.reports.selectors import flow_report
from aftersale.reports.tests.test_experiments import DAY, T0, a_measured_flow
from aftersale.stores.models import Store
from aftersale.tracking.services import record_click

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_page_shows_the_incremental_revenue_and_its_interval(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    flow, now = a_measured_flow(store)
    _click_the_emails_of_ten_buyers(flow)
    report = flow_report(flow=flow, now=now)
    assert report.attributed_orders == 10
    assert report.incremental_revenue is not None and report.incremental_revenue_ci
    low, high = report.incremental_revenue_ci
    assert low is not None and high is not None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with use_clock(VirtualClock(now)):
        page = open_page()
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, f"{live_server.url}/dashboard/{store.slug}/flows/{flow.slug}/report/")

        expect(page.locator('[data-stat="attributed"]')).to_have_text(
            f"{money(report.attributed_revenue, 'USD', store)} (10 orders)"
        )
        expect(page.locator('[data-stat="incremental-bootstrap"]')).to_have_text(
            money(report.incremental_revenue, "USD", store)
        )
        expect(page.locator('[data-stat="incremental-bootstrap-ci"]')).to_have_text(
            f"95 %: {money(low, 'USD', store)} to {money(high, 'USD', store)}"
        )
        assert report.incremental_revenue_cuped is not None
        expect(page.locator('[data-stat="incremental-cuped"]')).to_have_text(
            money(report.incremental_revenue_cuped, "USD", store)
        )
        expect(page.locator('[data-stat="holdout-verdict"]')).to_have_text(report.holdout_verdict)
        expect(
            page.get_by_role("img", name="Incremental revenue with its 95 % interval")
        ).to_be_visible()
        holdout = page.locator('tr[data-group="holdout"] [data-stat="customers"]')
        expect(holdout).to_contain_text(f"{report.holdout['customers']:,}")
        expect(page.locator("tr[data-variant]")).to_have_count(2)
        page.locator("[data-experiment]").scroll_into_view_if_needed()
        page.screenshot(
            path=str(SCREENSHOTS / f"flow-report-holdout-{width}.png"),
            full_page=True,
            caret="initial",
        )
        assert fits_the_screen(page)
    assert refused_by_policy == []


def _click_the_emails_of_ten_buyers(flow: Flow) -> None:
    """Ten recipients who bought two days in had clicked their email a day in: their
    orders are credited to it (a click recorded after the order, as a late webhook)."""
    bought = Order.objects.filter(external_id__startswith="r").values("customer_id")
    for message in Message.objects.filter(flow=flow, customer_id__in=bought)[:10]:
        record_click(message=message, index=0, url="https://shop.example.com/", now=T0 + DAY)
