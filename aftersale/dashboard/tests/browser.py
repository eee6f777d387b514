"""What the dashboard's chromium tests share: where screenshots go, the no-sideways-
scrolling check, and signing in as the `merchant` fixture's user."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

from aftersale.dashboard.tests.conftest import PASSWORD

# var/screenshots/, or the directory scripts/test gives a pass of its own.
SCREENSHOTS = Path(
    os.environ.get("AFTERSALE_TEST_SCREENSHOTS")
    or Path(__file__).resolve().parents[3] / "var" / "screenshots"
)


def fits_the_screen(page: Page) -> bool:
    """True when the page does not scroll sideways at its viewport's width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def sign_in(page: Page, url: str) -> None:
    """Open `url` (a dashboard page, which asks to log in first) as the merchant."""
    page.goto(url)
    page.get_by_label("Username").fill("merchant")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
