"""Tracked links in rendered emails: shop links go through a signed click redirect, the
HTML ends with an open pixel, and the plain-text part shows the real destinations."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.rendering.links import (
    click_from_token,
    click_token,
    message_id_from_open_token,
    open_token,
    tag_links,
    track_links,
)
from aftersale.messaging.rendering.locale import phrases
from aftersale.messaging.rendering.previews import preview_template
from aftersale.messaging.rendering.render import render_message
from aftersale.messaging.tests.factories import Scenario, make_scenario
from aftersale.recommendations.links import feedback_urls
from aftersale.stores.models import Store

PUBLIC = "https://track.example.com"


@pytest.fixture
def scenario(store: Store, clock: VirtualClock, settings: Settings) -> Scenario:
    settings.PUBLIC_URL = PUBLIC
    return make_scenario(store, now=clock.now())


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


@pytest.mark.parametrize("slug", ["thank-you", "cross-sell-offer", "order-confirmation"])
def test_every_http_link_of_the_html_part_is_a_click_redirect_or_an_own_link(
    scenario: Scenario, clock: VirtualClock, slug: str
) -> None:
    message = scenario.message(slug, now=clock.now())
    email = render_message(message=message, now=clock.now())
    web_links = [h for h in _hrefs(email.html) if h.startswith("http")]
    redirects = [h for h in web_links if h.startswith(f"{PUBLIC}/c/")]
    assert redirects and all(h.startswith(f"{PUBLIC}/") for h in web_links)
    indexes = set()
    for href in redirects:
        parsed = click_from_token(href.removeprefix(f"{PUBLIC}/c/").removesuffix("/"))
        assert parsed is not None and parsed[0] == message.pk
        indexes.add(parsed[1])
    # Every recorded destination is reachable from the email, and nothing else is.
    assert indexes == set(range(len(email.links)))
    for url in email.links:
        assert parse_qs(urlsplit(url).query)["utm_medium"] == ["email"]


def test_the_text_part_shows_the_tagged_destinations_not_the_redirects(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = render_message(message=scenario.message("thank-you", now=clock.now()), now=clock.now())
    assert "/c/" not in email.text and "/o/" not in email.text
    shown = [url for url in email.links if url in email.text]
    assert shown and all("utm_source=aftersale" in url for url in shown)


def test_the_html_part_ends_its_body_with_a_one_pixel_open_image_of_the_message(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("cross-sell-offer", now=clock.now())
    email = render_message(message=message, now=clock.now())
    pixel = re.search(r'<img src="([^"]+)" width="1" height="1" alt=""[^>]*>\s*</body>', email.html)
    assert pixel is not None
    token = pixel.group(1).removeprefix(f"{PUBLIC}/o/").removesuffix(".gif")
    assert message_id_from_open_token(token) == message.pk
    assert email.html.count(f"{PUBLIC}/o/") == 1


def test_unsubscribe_and_mailto_links_are_left_alone_and_a_repeated_link_is_one_link(
    settings: Settings,
) -> None:
    settings.PUBLIC_URL = PUBLIC
    page = (
        f'<a href="{PUBLIC}/u/7:sig/">Unsubscribe</a><a href="mailto:help@shop.example.com">m</a>'
        '<a href="https://shop.example.com/p/1?a=1&amp;b=2"><img src="x.jpg"></a>'
        '<a href="https://shop.example.com/p/1?a=1&amp;b=2">Cookies</a>'
        '<a href="https://shop.example.com/p/2">Granola</a>'
    )
    wrapped, links = track_links(page, message_id=7)
    assert (
        f'href="{PUBLIC}/u/7:sig/"' in wrapped and 'href="mailto:help@shop.example.com"' in wrapped
    )
    assert links == ["https://shop.example.com/p/1?a=1&b=2", "https://shop.example.com/p/2"]
    assert wrapped.count(f"{PUBLIC}/c/{click_token(7, 0)}/") == 2
    assert wrapped.count(f"{PUBLIC}/c/{click_token(7, 1)}/") == 1
    assert "https://shop.example.com" not in wrapped


def test_a_preview_render_has_no_redirects_and_no_pixel(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    email = render_message(message=message, now=clock.now(), track=False)
    assert email.links == () and f"{PUBLIC}/c/" not in email.html and "/o/" not in email.html


def test_tracking_tokens_refuse_tampering_and_each_other() -> None:
    token = click_token(42, 3)
    assert click_from_token(token) == (42, 3)
    # One signature per message: another index names another link of the same message
    # (the click view redirects only to links that message recorded), never another one.
    assert click_from_token(token.replace("42.3", "42.4", 1)) == (42, 4)
    assert click_from_token(token.replace("42.3", "43.3", 1)) is None
    assert click_from_token(token.replace("42.3", "42.-3", 1)) is None
    assert click_from_token(open_token(42)) is None  # another salt: not a click
    assert message_id_from_open_token(token) is None
    assert message_id_from_open_token(open_token(42)) == 42


def test_upper_case_href_attributes_are_tagged_and_tracked_but_lookalike_attributes_are_not(
    settings: Settings,
) -> None:
    settings.PUBLIC_URL = PUBLIC
    page = (
        '<A HREF="https://shop.example.com/a">a</A>'
        '<a data-xhref="https://shop.example.com/b">b</a>'
        "<a href='https://shop.example.com/c'>c</a>"
    )
    tagged = tag_links(page, campaign="flow", content="tpl")
    wrapped, links = track_links(tagged, message_id=9)
    assert links == [
        "https://shop.example.com/a?utm_source=aftersale&utm_medium=email&utm_campaign=flow&utm_content=tpl",
        "https://shop.example.com/c?utm_source=aftersale&utm_medium=email&utm_campaign=flow&utm_content=tpl",
    ]
    assert f'HREF="{PUBLIC}/c/{click_token(9, 0)}/"' in wrapped
    assert f"href='{PUBLIC}/c/{click_token(9, 1)}/'" in wrapped
    assert 'data-xhref="https://shop.example.com/b"' in wrapped


@pytest.mark.parametrize("language", ["en", "de", "ar"])  # the offer's translations
def test_a_flows_picks_ask_was_this_helpful_with_signed_links_that_are_not_click_tracked(
    scenario: Scenario, clock: VirtualClock, language: str
) -> None:
    scenario.customer.locale = language
    scenario.customer.save()
    message = scenario.message("cross-sell-offer", now=clock.now())
    email = render_message(message=message, now=clock.now())
    words = phrases(language)
    assert email.html.count(words["was_this_helpful"]) == len(scenario.picks)
    for product in scenario.picks:
        urls = feedback_urls(message.pk, product.pk)
        for url in (urls.helpful, urls.not_helpful):
            assert url.startswith(f"{PUBLIC}/f/") and f'href="{url}"' in email.html
            assert url not in email.links


def test_previews_and_untracked_renders_ask_for_no_feedback(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("cross-sell", now=clock.now())
    email = render_message(message=message, now=clock.now(), track=False)
    preview = preview_template(
        template=scenario.templates["cross-sell"], customer=scenario.customer, now=clock.now()
    )
    for page in (email.html, preview.html):
        assert "Was this helpful?" not in page and f"{PUBLIC}/f/" not in page


def test_click_tokens_sign_the_message_once_and_tokens_of_sent_emails_still_work(
    settings: Settings,
) -> None:
    for secret in ("one secret key", "another secret key"):
        settings.SECRET_KEY = secret
        message_signature = signing.Signer(salt="aftersale.tracking.click.message").sign("42")
        assert click_token(42, 3) == message_signature.replace("42:", "42.3:", 1)
        assert click_from_token(click_token(42, 3)) == (42, 3)
        # Emails sent before signed every link on its own.
        per_link = signing.Signer(salt="aftersale.tracking.click").sign("42.3")
        assert click_from_token(per_link) == (42, 3)
        assert click_from_token(per_link.replace("42.3", "42.4", 1)) is None
