"""A new installation's first run in Debian's chromium: create the account and store, fill
in the store's settings (a refused field first, nothing typed lost), choose the store's
own SMTP relay and send a test email to a local CaptureServer, then invite a member (the
link emailed through the same relay), at 1280 and 390 px."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.messaging.delivery.capture import CaptureServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_new_installation_creates_its_store_fills_its_settings_and_sends_a_test_email(
    width: int,
    live_server: LiveServer,
    tmp_path: Path,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with CaptureServer(tmp_path) as relay:
        page = open_page()
        page.set_viewport_size({"width": width, "height": 900})

        page.goto(f"{live_server.url}/dashboard/")
        expect(page.get_by_role("heading", name="Create your account and store")).to_be_visible()
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Your email").fill("ada@example.com")
        page.get_by_label("Password").fill("a long enough password")
        page.get_by_label("Store name").fill("Little Gift Shop")
        page.get_by_label("Currency").fill("EUR")
        page.get_by_label("Time zone").fill("Europe/Paris")
        page.get_by_label("Locale").fill("fr_FR")
        page.screenshot(path=str(SCREENSHOTS / f"settings-first-run-{width}.png"), full_page=True)
        assert fits_the_screen(page)
        page.get_by_role("button", name="Create account and store").click()

        expect(page.get_by_role("heading", name="Settings")).to_be_visible()
        expect(page.get_by_role("alert").first).to_contain_text(
            "Add your store's postal address in Settings"
        )
        page.get_by_label("Sender name").fill("Ada at Little Gift Shop")
        page.get_by_label("Sender address").fill("ada@gifts.example.com")
        page.get_by_label("Brand colour").fill("teal")
        page.get_by_role("textbox", name="Postal address").fill(
            "2 Rue de Rivoli\n75001 Paris, France"
        )
        page.get_by_label("The store's own SMTP relay").check()
        page.get_by_label("SMTP host").fill("127.0.0.1")
        page.get_by_label("SMTP port").fill(str(relay.port))
        page.get_by_label("Security").select_option("none")
        page.get_by_role("button", name="Save settings").click()

        expect(page.locator("#id_brand_color_error")).to_contain_text("is not a hex colour")
        expect(page.get_by_label("Sender name")).to_have_value("Ada at Little Gift Shop")
        expect(page.get_by_label("SMTP host")).to_have_value("127.0.0.1")
        page.screenshot(path=str(SCREENSHOTS / f"settings-refused-{width}.png"), full_page=True)
        assert fits_the_screen(page)
        page.get_by_label("Brand colour").fill("#0f766e")
        page.get_by_role("button", name="Save settings").click()

        expect(page.get_by_text("Settings saved.")).to_be_visible()
        expect(page.get_by_text("Add your store's postal address")).to_have_count(0)
        page.get_by_label("Send it to").fill("ada@example.com")
        page.get_by_role("button", name="Send test email").click()
        result = page.locator("#test-email-result")
        expect(result).to_contain_text(
            f"Delivered to the store's SMTP relay 127.0.0.1:{relay.port}"
        )
        page.screenshot(path=str(SCREENSHOTS / f"settings-test-email-{width}.png"), full_page=True)
        assert fits_the_screen(page)
        assert relay.count == 1

        page.get_by_role("link", name="Members").click()
        page.get_by_label("Email of the person to invite").fill("mia@example.com")
        page.get_by_role("button", name="Create invitation").click()
        expect(page.get_by_label("Invitation link")).to_have_value(
            re.compile(r"/dashboard/invitations/")
        )
        expect(page.get_by_text("It was emailed to them")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"settings-members-{width}.png"), full_page=True)
        assert fits_the_screen(page)
        assert relay.count == 2
    sent = (tmp_path / "000001.eml").read_text()
    assert "From: Ada at Little Gift Shop <ada@gifts.example.com>" in sent
    assert refused_by_policy == []
