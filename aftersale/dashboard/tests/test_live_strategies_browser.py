"""The Recommendations page's *Live in your emails* card in chromium: the strategy each
task uses with its reason, pinning one from the form, at desktop and phone widths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from aftersale.dashboard.tests.browser import SCREENSHOTS, fits_the_screen, sign_in
from aftersale.dashboard.tests.conftest import SaveRun
from aftersale.dashboard.tests.test_browser import open_page, refused_by_policy  # noqa: F401
from aftersale.recommendations.models import LiveStrategy
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
REASON = (
    "popularity reached 0.604 hit rate@4 against 0.495 for discovery, 1.22 times "
    "(95% interval 1.08 to 1.43): better beyond noise"
)


def test_the_live_card_says_what_each_task_uses_and_why_and_pins_one(
    live_server: LiveServer,
    store: Store,
    merchant: User,
    save_run: SaveRun,
    open_page: Callable[[], Page],  # noqa: F811
    refused_by_policy: list[str],  # noqa: F811
) -> None:
    save_run(store=store, hit=0.5)
    LiveStrategy.objects.create(
        store=store,
        task="cross_sell",
        strategy="popularity",
        default="discovery",
        reason=REASON,
        evaluated_strategy="popularity",
        evaluated_reason=REASON,
        figures={
            "metric": "hit_rate",
            "k": 4,
            "winner": "popularity",
            "winner_value": 0.604,
            "default_value": 0.495,
            "ratio": 1.22,
            "low": 1.08,
            "high": 1.43,
        },
        decided_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
    )
    page = open_page()
    sign_in(page, f"{live_server.url}/dashboard/{store.slug}/recommendations/")

    card = page.locator("#live-strategies")
    cross_sell = card.locator('[data-task="cross_sell"]')
    expect(cross_sell.locator(".live-choice")).to_contain_text("popularity")
    expect(cross_sell.locator(".live-choice")).to_contain_text("chosen by evaluation")
    expect(cross_sell.locator(".live-reason")).to_contain_text("better beyond noise")
    expect(card.locator('[data-task="replenishment"] .live-reason')).to_contain_text(
        "not been evaluated yet"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "recommendations-live.png"))

    page.locator("#pin-replenishment").select_option("popularity")
    card.locator('[data-task="replenishment"]').get_by_role("button", name="Save").click()
    replenishment = page.locator('#live-strategies [data-task="replenishment"]')
    expect(replenishment.locator(".live-choice")).to_contain_text("pinned")
    expect(replenishment.locator(".live-reason")).to_contain_text("pinned by the merchant")

    page.set_viewport_size({"width": 390, "height": 900})
    assert fits_the_screen(page)
    page.locator("#live-strategies").screenshot(
        path=str(SCREENSHOTS / "recommendations-live-390.png")
    )
    assert refused_by_policy == []
