"""Uploads and backtests in Debian's chromium, on a desktop and on a 390 px wide phone:
a merchant uploads an orders CSV with one bad line and watches it imported (the bad line
reported with its number, the good rows kept), then backtests a flow and reads what it
would have sent. The worker runs in a thread of its own, as in `aftersale serve`."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.flows.models import FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.flows.tests.test_backtest_runs import order
from aftersale.lib import clock
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from aftersale.worker.jobs import run_jobs

pytestmark = pytest.mark.django_db(transaction=True)
DAY = dt.timedelta(days=1)
CSV = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1001,c1,ada@example.com,Ada,2024-03-01T10:00:00,p1,2,9.99\n"
    "1002,c2,bob-at-example.com,Bob,2024-03-01T11:00:00,p1,1,9.99\n"
    "1003,c3,cy@example.com,Cy,2024-03-02T09:00:00,p2,1,5\n"
)


def _in_a_thread(work: Callable[[], object]) -> list[object]:
    """Run `work` in a thread of its own and return what it returned (the test's thread
    runs Playwright's event loop, where Django refuses database calls)."""
    answers: list[object] = []

    def run() -> None:
        try:
            answers.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    return answers


def _worker_pass() -> None:
    """What the embedded worker does in a pass: its background runs."""
    _in_a_thread(run_jobs)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchant_imports_a_csv_with_a_bad_line_then_backtests_a_flow(
    width: int,
    live_server: LiveServer,
    store: Store,
    merchant: User,
    settings: Settings,
    tmp_path: Path,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    settings.DATA_DIR = tmp_path
    now = clock.now()
    install_default_templates(store=store, now=now - 60 * DAY)
    install_library_flow(
        store=store, slug="post-purchase-upsell", now=now - 60 * DAY, status=FlowStatus.DRAFT
    )
    order(store, "a1", "ann", now - 40 * DAY, "30.00")
    order(store, "a2", "ann", now - 35 * DAY, "45.50")
    order(store, "b1", "bob", now - 30 * DAY, "20.00")
    upload = tmp_path / "orders.csv"
    upload.write_text(CSV)
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/connect/")
    page.get_by_label("Orders").check()
    page.get_by_label("CSV file (at most 100 MB)").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    run = page.locator(".import-run").first
    expect(run.locator(".run-status")).to_have_text("Waiting for the worker")

    _worker_pass()

    expect(run.locator(".run-status")).to_have_text("Imported", timeout=10_000)
    expect(run.locator(".run-counts")).to_contain_text("Rows kept2")
    bad = run.locator(".bad-lines tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").first).to_have_text("3")
    expect(bad).to_contain_text("email")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"connect-upload-{width}.png"), full_page=True)

    page.goto(f"{live_server.url}/dashboard/{store.slug}/flows/post-purchase-upsell/backtest/")
    page.get_by_label("Replay the last … days of orders").fill("60")
    page.get_by_role("button", name="Run backtest").click()
    status = page.locator(".backtest-run .run-status")
    expect(status).to_contain_text("Waiting for the worker")

    _worker_pass()

    expect(status).to_contain_text("nothing was sent", timeout=10_000)
    steps = page.locator(".backtest-step")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("2 emails to 2 customers")
    expect(steps.nth(2)).to_contain_text("1 email to 1 customer")
    expect(page.locator(".backtest-totals")).to_contain_text("45.50 EUR")
    assert fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"backtest-result-{width}.png"), full_page=True)
    assert refused_by_policy == []
    kept = _in_a_thread(
        lambda: set(Order.objects.filter(store=store).values_list("external_id", flat=True))
    )
    assert kept == [{"1001", "1003", "a1", "a2", "b1"}]
