"""The dashboard in a real browser: Playwright drives Debian's chromium (installed by
scripts/chromium) against the test server, so htmx, the stylesheet and the chart are
exercised as a merchant sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen
from aftersale.dashboard.tests.conftest import PASSWORD, SaveRun
from aftersale.stores.models import Store

CHROMIUM = "/usr/bin/chromium"

# The browser's requests are answered by the live server's own thread; the test data
# is committed (transaction=True) so that thread sees it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def refused_by_policy() -> list[str]:
    """What the browser refused to run or apply under the Content-Security-Policy, as it
    reported it on the console of the pages `open_page` opened."""
    return []


@pytest.fixture
def open_page(refused_by_policy: list[str]) -> Iterator[Callable[[], Page]]:
    """Opens a headless chromium page when called. Call it after the test's database
    writes: Playwright's sync API runs an event loop in this thread, and Django refuses
    database calls while one runs."""
    with ExitStack() as stack:

        def open_page() -> Page:
            playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            stack.callback(browser.close)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda message: (
                    refused_by_policy.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            return page

        yield open_page


def _chart_loaded(page: Page) -> bool:
    return bool(
        page.locator("#evaluation figure img").evaluate(
            "img => img.complete && img.naturalWidth > 0"
        )
    )


def test_a_merchant_logs_in_reads_the_latest_run_and_switches_runs_in_place(
    live_server: LiveServer,
    store: Store,
    merchant: User,
    save_run: SaveRun,
    open_page: Callable[[], Page],
    refused_by_policy: list[str],
) -> None:
    older = save_run(store=store, hit=0.125)
    latest = save_run(store=store, hit=0.5)
    page = open_page()

    page.goto(f"{live_server.url}/dashboard/{store.slug}/recommendations/")
    expect(page).to_have_title("Log in · Aftersale")
    page.get_by_label("Username").fill("merchant")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    best = page.locator('table[data-task="cross_sell"] tr.best-strategy')
    expect(best).to_contain_text("personal")
    expect(best).to_contain_text("0.5000")
    expect(page.locator("#run")).to_have_value(str(latest.pk))
    expect(page.locator(".verdict").first).to_contain_text("2.00 times the hit rate@4")
    page.wait_for_function(
        "() => document.querySelector('#evaluation figure img').naturalWidth > 0", timeout=30_000
    )
    assert _chart_loaded(page)

    # A marker on the window survives only if htmx swaps the panel instead of a reload.
    page.evaluate("window.notReloaded = true")
    page.locator("#run").select_option(str(older.pk))

    expect(best).to_contain_text("0.1250")
    expect(page).to_have_url(
        f"{live_server.url}/dashboard/{store.slug}/recommendations/?run={older.pk}"
    )
    assert page.evaluate("window.notReloaded") is True
    chart = page.locator("#evaluation figure img")
    expect(chart).to_have_attribute(
        "src", f"/dashboard/{store.slug}/recommendations/runs/{older.pk}/chart.png"
    )
    page.wait_for_function(
        "() => document.querySelector('#evaluation figure img').naturalWidth > 0", timeout=30_000
    )
    assert _chart_loaded(page)
    # The results table, with its coverage and diversity columns, scrolls inside its
    # card at 390 px; the page itself does not.
    expect(page.locator('table[data-task="cross_sell"] thead')).to_contain_text("Diversity")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#evaluation .card").first.screenshot(
        path=str(SCREENSHOTS / "recommendations-evaluation.png")
    )
    page.set_viewport_size({"width": 390, "height": 900})
    assert fits_the_screen(page)
    page.locator("#evaluation .card").first.screenshot(
        path=str(SCREENSHOTS / "recommendations-evaluation-390.png")
    )
    assert refused_by_policy == []


def test_the_admin_and_the_lockout_page_run_under_the_content_security_policy(
    live_server: LiveServer,
    merchant: User,
    open_page: Callable[[], Page],
    refused_by_policy: list[str],
) -> None:
    page = open_page()
    page.goto(f"{live_server.url}/admin/login/")
    expect(page.get_by_label("Username:")).to_be_visible()
    page.goto(f"{live_server.url}/dashboard/login/")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill("merchant")
        page.get_by_label("Password").fill(f"guess-{attempt}")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("blocked for now")
    assert refused_by_policy == []
