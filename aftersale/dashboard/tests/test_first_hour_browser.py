"""A merchant's first hour on a fresh installation, in Debian's chromium, against a real
`aftersale serve` (its own worker inside) sending to a capture SMTP server on 127.0.0.1:
create the store and fill its settings, upload the order history (a bad line reported,
the good ones kept), set up the post-purchase upsell with a custom coupon and three
messages, preview a template for a real customer at mobile width, backtest the flow, set
it live, post an order through the API with a key made on the Connect page, see the
worker send the first email, and read the flow report with its funnel chart. On a
desktop and on a 390 px wide phone, where no page may scroll sideways."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen
from aftersale.dashboard.tests.served import Served, served_installation
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401

WORKER_SECONDS = 120  # how long the installation's own worker may take to get to a job
CUSTOMERS = ("ada", "grace", "linus", "barbara", "edsger", "frances")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with served_installation(tmp_path / "home") as installation:
        yield installation


def _history(now: dt.datetime) -> str:
    """An orders CSV of the last weeks: six first orders, two second ones, and one line
    whose email is not an address (line 4 of the file)."""
    lines = ["order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price"]
    for n, name in enumerate(CUSTOMERS):
        placed = (now - dt.timedelta(days=50 - 3 * n)).strftime("%Y-%m-%dT%H:%M:%S")
        email = f"{name}@example.com" if n != 2 else f"{name}-at-example.com"
        lines.append(f"{1000 + n},{name},{email},{name.title()},{placed},mug,1,24.00")
    for n, name in enumerate(CUSTOMERS[:2]):
        placed = (now - dt.timedelta(days=30 - n)).strftime("%Y-%m-%dT%H:%M:%S")
        lines.append(f"{2000 + n},{name},{name}@example.com,{name.title()},{placed},tea,2,9.50")
    return "\n".join(lines) + "\n"


def _post_order(served: Served, raw_key: str, placed_at: dt.datetime) -> int:
    order = {
        "id": "web-1",
        "customer": {"id": "web-ana", "email": "ana@example.com", "first_name": "Ana"},
        "placed_at": placed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "line_items": [{"product_id": "mug", "name": "Mug", "quantity": 1, "unit_price": "24"}],
    }
    request = urllib.request.Request(
        f"{served.url}/api/v1/orders",
        data=json.dumps(order).encode(),
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def _until(condition: Callable[[], bool], seconds: float, what: str, served: Served) -> None:
    """Wait for the installation's worker (another process) to make `condition` true."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            said = "".join(served.output)
            raise AssertionError(f"{what} within {seconds} s; serve said:\n{said}")
        threading.Event().wait(0.2)


class Screens:
    """Each step's screenshot, after checking the page fits the screen."""

    def __init__(self, page: Page, width: int) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page, self.width = page, width

    def take(self, name: str) -> None:
        assert fits_the_screen(self.page), f"{name} scrolls sideways at {self.width} px"
        path = SCREENSHOTS / f"first-hour-{name}-{self.width}.png"
        self.page.screenshot(path=str(path), full_page=True, caret="initial")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_merchants_first_hour_from_an_empty_installation_to_the_first_email_and_its_report(
    width: int,
    served: Served,
    tmp_path: Path,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    page = open_page()
    page.set_viewport_size({"width": width, "height": 900})
    screens = Screens(page, width)
    now = dt.datetime.now(tz=dt.UTC)  # the served installation runs on the system clock

    _create_the_store_and_fill_its_settings(page, served, screens)
    _upload_the_order_history(page, served, screens, tmp_path, now)
    _set_up_the_upsell_with_a_custom_coupon(page, served, screens)
    _preview_the_thank_you_for_a_real_customer_on_a_phone(page, served, screens)
    _backtest_the_flow(page, served, screens)
    page.goto(f"{served.url}/dashboard/little-gift-shop/flows/post-purchase-upsell/edit/")
    page.get_by_role("button", name="Set live").click()
    expect(page.get_by_role("status")).to_contain_text("The flow is live")

    raw_key = _create_an_api_key(page, served, screens)
    # The shop's webhook arrives three hours after the purchase: the thank-you (two hours
    # after it) is due at once.
    assert _post_order(served, raw_key, now - dt.timedelta(hours=3)) == 201
    _until(lambda: served.smtp.count >= 1, WORKER_SECONDS, "the first email was not sent", served)
    sent = served.smtp.messages()[0].read_text()
    assert "To: ana@example.com" in sent
    assert "From: Ada at Little Gift Shop <ada@gifts.example.com>" in sent
    assert "75001 Paris" in sent  # the postal address, in the footer

    _read_the_report(page, served, screens)
    assert refused_by_policy == []


def _create_the_store_and_fill_its_settings(page: Page, served: Served, screens: Screens) -> None:
    page.goto(f"{served.url}/dashboard/")
    expect(page.get_by_role("heading", name="Create your account and store")).to_be_visible()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Your email").fill("ada@example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_label("Store name").fill("Little Gift Shop")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_label("Locale").fill("en_GB")
    screens.take("create-store")
    page.get_by_role("button", name="Create account and store").click()

    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    page.get_by_label("Sender name").fill("Ada at Little Gift Shop")
    page.get_by_label("Sender address").fill("ada@gifts.example.com")
    page.get_by_role("textbox", name="Postal address").fill("2 Rue de Rivoli\n75001 Paris")
    # No quiet hours: the first email may go out whatever the hour the test runs at.
    page.locator("#id_quiet_hours_start").fill("")
    page.locator("#id_quiet_hours_end").fill("")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    screens.take("settings")


def _upload_the_order_history(
    page: Page, served: Served, screens: Screens, tmp_path: Path, now: dt.datetime
) -> None:
    upload = tmp_path / "orders.csv"
    upload.write_text(_history(now))
    page.get_by_role("link", name="Connect").click()
    page.get_by_label("Orders").check()
    page.get_by_label("CSV file (at most 100 MB)").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()
    run = page.locator(".import-run").first
    expect(run.locator(".run-status")).to_have_text("Imported", timeout=WORKER_SECONDS * 1000)
    expect(run.locator(".run-counts")).to_contain_text("Rows kept7")
    bad = run.locator(".bad-lines tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").first).to_have_text("4")
    screens.take("upload")


def _set_up_the_upsell_with_a_custom_coupon(page: Page, served: Served, screens: Screens) -> None:
    page.get_by_role("link", name="Automations").click()
    page.get_by_role("button", name="Set up Post-purchase upsell").click()
    expect(page.get_by_role("status")).to_contain_text("set up as a draft")
    page.get_by_label("Create a custom coupon").check()
    page.get_by_label("Kind").select_option("percent")
    page.get_by_label("Value (% or amount)").fill("20")
    page.get_by_label("Minimum order", exact=True).fill("30")
    page.get_by_label("Expires (days after the send)").fill("10")
    page.get_by_label("Code prefix").fill("WELCOME")
    expect(page.locator(".step-card")).to_have_count(3)
    expect(page.locator("#card-2 .timing")).to_have_text(
        "Sent 7 days 2 hours after the first purchase"
    )
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2.")
    expect(page.get_by_label("Code prefix")).to_have_value("WELCOME")
    screens.take("flow-builder")


def _preview_the_thank_you_for_a_real_customer_on_a_phone(
    page: Page, served: Served, screens: Screens
) -> None:
    page.get_by_role("link", name="Templates").click()
    page.locator('[data-template="thank-you"] .template-name a').click()
    email = page.frame_locator("#preview iframe")
    expect(email.get_by_text("Grace").first).to_be_visible()  # the latest buyer
    page.get_by_label("Mobile (375 px)").check()
    expect(email.get_by_text("Grace").first).to_be_visible()
    screens.take("template-preview")


def _backtest_the_flow(page: Page, served: Served, screens: Screens) -> None:
    page.goto(f"{served.url}/dashboard/little-gift-shop/flows/post-purchase-upsell/edit/")
    page.get_by_role("link", name="Backtest").click()
    page.get_by_label("Replay the last … days of orders").fill("60")
    page.get_by_role("button", name="Run backtest").click()
    status = page.locator(".backtest-run .run-status")
    expect(status).to_contain_text("nothing was sent", timeout=WORKER_SECONDS * 1000)
    steps = page.locator(".backtest-step")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("5 emails to 5 customers")  # the five good ones
    screens.take("backtest")


def _create_an_api_key(page: Page, served: Served, screens: Screens) -> str:
    page.get_by_role("link", name="Connect").click()
    page.get_by_label("Name of a new key").fill("Shop")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("Your new API key")
    expect(new_key).to_be_visible()
    screens.take("api-key")
    return new_key.input_value()


def _read_the_report(page: Page, served: Served, screens: Screens) -> None:
    page.get_by_role("link", name="Automations").click()
    flow = page.locator(".flow-row", has_text="Post-purchase upsell")
    expect(flow).to_contain_text("live")
    flow.get_by_role("link", name="Report").click()
    expect(page.get_by_role("img", name="Funnel")).to_be_visible()
    expect(page.locator('[data-stat="started"]')).to_have_text("1")
    expect(page.locator(".flow-report")).to_contain_text("thank-you: sent")
    screens.take("report")
