"""The API docs at /api/v1/docs: Swagger UI served by Aftersale itself, so they work with
no network, under the Content-Security-Policy. Debian's chromium, driven by Playwright."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = "/usr/bin/chromium"
# var/screenshots/, or the directory scripts/test gives a pass of its own.
SCREENSHOTS = Path(
    os.environ.get("AFTERSALE_TEST_SCREENSHOTS")
    or Path(__file__).resolve().parents[3] / "var" / "screenshots"
)


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_list_the_operations_loading_nothing_from_elsewhere(
    live_server: LiveServer,
) -> None:
    hosts: set[str] = set()
    refused: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

        page.goto(f"{live_server.url}/api/v1/docs")

        post_orders = page.locator('.opblock-post [data-path="/api/v1/orders"]')
        expect(post_orders).to_be_visible()
        expect(page.locator('[data-path="/api/v1/products"]').first).to_be_visible()
        post_orders.click()
        expect(page.get_by_text("Request body").first).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
        browser.close()

    assert hosts == {urlsplit(live_server.url).netloc}
    assert refused == []
