"""Rendering: library templates produce complete emails; merchant code runs sandboxed."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.rendering.context import build_context
from aftersale.messaging.rendering.render import (
    RenderedEmail,
    TemplateError,
    compile_template,
    render_message,
    render_template,
)
from aftersale.messaging.tests.factories import Scenario, make_product, make_scenario
from aftersale.stores.models import Store

LIBRARY = ["thank-you", "cross-sell-offer", "offer-reminder", "order-confirmation"]
MARKETING = ["thank-you", "cross-sell-offer", "offer-reminder"]


@pytest.fixture
def scenario(store: Store, clock: VirtualClock) -> Scenario:
    return make_scenario(store, now=clock.now())


def _render(scenario: Scenario, slug: str, clock: VirtualClock) -> RenderedEmail:
    message = scenario.message(slug, now=clock.now())
    return render_message(message=message, now=clock.now())


def _shop_links(html: str) -> list[str]:
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]
    return [h for h in hrefs if urlsplit(h).hostname == "shop.example.com"]


def _template(store: Store, body: str, *, slug: str = "custom") -> EmailTemplate:
    return EmailTemplate(
        store=store,
        slug=slug,
        name=slug,
        kind="thank_you",
        subject="Hi",
        body_mjml=body,
        updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def _merchant_render(scenario: Scenario, clock: VirtualClock, body: str) -> RenderedEmail:
    context = build_context(message=scenario.message("thank-you", now=clock.now()), now=clock.now())
    template = _template(scenario.store, body)
    return render_template(template=template, context=context, campaign="test")


@pytest.mark.parametrize("slug", LIBRARY)
def test_every_library_template_renders_a_complete_email(
    scenario: Scenario, clock: VirtualClock, slug: str
) -> None:
    email = _render(scenario, slug, clock)
    assert email.subject and "\n" not in email.subject
    assert email.html.startswith("<!doctype html>") or email.html.lower().startswith("<!doctype")
    assert 'name="viewport"' in email.html and "@media" in email.html  # mobile layout
    for part in (email.subject, email.preheader, email.html, email.text):
        assert "{{" not in part and "{%" not in part and "<mj-" not in part
    assert "Ada" in email.text and "1 Market Street, Springfield, USA" in email.text
    assert "<style" not in email.text and "display:none" not in email.text


@pytest.mark.parametrize("slug", LIBRARY)
def test_every_shop_link_carries_utm_parameters(
    scenario: Scenario, clock: VirtualClock, slug: str
) -> None:
    email = _render(scenario, slug, clock)
    # The HTML part reaches the shop only through click redirects to these destinations.
    links = list(email.links)
    assert links and not _shop_links(email.html)
    campaign = "transactional" if slug == "order-confirmation" else "post-purchase-upsell"
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query["utm_source"] == ["aftersale"] and query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == [campaign] and query["utm_content"] == [slug]
    assert "utm_content=" + slug in email.text


@pytest.mark.parametrize("slug", MARKETING)
def test_marketing_templates_show_picks_with_reason_image_and_discounted_price(
    scenario: Scenario, clock: VirtualClock, slug: str
) -> None:
    email = _render(scenario, slug, clock)
    assert 'alt="Chocolate Chip Cookies"' in email.html
    assert "Goes with your Whole Milk" in email.html
    # 15% off $5.00 is $4.25; the old price is struck through.
    assert re.search(r"<s\b[^>]*>\$5\.00</s>", email.html)
    assert "$4.25 (was $5.00)" in email.text
    assert "/u/" in email.html and "Unsubscribe" in email.text


@pytest.mark.parametrize("slug", ["cross-sell-offer", "offer-reminder"])
def test_offer_templates_show_coupon_code_discount_and_expiry(
    scenario: Scenario, clock: VirtualClock, slug: str
) -> None:
    email = _render(scenario, slug, clock)
    for part in (email.html, email.text):
        assert scenario.coupon.code in part
        assert "15% off" in part
        assert "March 18, 2024" in part  # issued March 4, valid 14 days


def test_cross_sell_offer_has_claim_button_and_each_pick_its_own_reason(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(scenario, "cross-sell-offer", clock)
    assert "Claim my discount" in email.html
    assert "Goes with your Whole Milk" in email.text and "Customers also bought" in email.text
    assert "pair well with your Whole Milk" not in email.text  # not said of every pick


def test_thank_you_lists_what_the_customer_bought(scenario: Scenario, clock: VirtualClock) -> None:
    email = _render(scenario, "thank-you", clock)
    assert "Whole Milk" in email.text and "Honey Oat Cereal" in email.text
    assert "You might also like" in email.text


def test_order_confirmation_lists_lines_and_total_without_unsubscribe(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(scenario, "order-confirmation", clock)
    assert scenario.order.external_id in email.subject
    assert "$6.98" in email.text and "Total $11.97" in email.text
    assert "Unsubscribe" not in email.text


def test_sandbox_refuses_access_to_python_internals(
    scenario: Scenario, clock: VirtualClock
) -> None:
    with pytest.raises(TemplateError) as caught:
        _merchant_render(scenario, clock, "<mjml>\n{{ ''.__class__.__mro__ }}\n</mjml>")
    assert caught.value.slug == "custom"
    assert "'custom'" in str(caught.value) and "sandbox" in str(caught.value)
    assert "__class__" in str(caught.value)


def test_sandbox_never_executes_code_reached_through_globals(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    body = f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}"
    with pytest.raises(TemplateError, match="sandbox"):
        _merchant_render(scenario, clock, body)
    assert not marker.exists()


def test_unbounded_recursion_is_an_error(scenario: Scenario, clock: VirtualClock) -> None:
    with pytest.raises(TemplateError, match="RecursionError"):
        _merchant_render(scenario, clock, "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")


def test_syntax_error_names_the_template_and_line(scenario: Scenario, clock: VirtualClock) -> None:
    body = "<mjml>\n<mj-body>\n{% if customer.first_name %}\n</mj-body>\n</mjml>"
    with pytest.raises(TemplateError) as caught:
        _merchant_render(scenario, clock, body)
    assert caught.value.line is not None and caught.value.line >= 3
    assert str(caught.value).startswith("template 'custom' line")
    assert "syntax error" in str(caught.value)


@pytest.mark.parametrize(
    "line",
    [
        "{{ custmer.first_name }}",
        # A stretch of text and values is written at once (shapes.FusedOutput).
        "Hi {{ customer.first_name }}, {{ custmer.first_name }}!",
    ],
)
def test_a_typo_in_a_variable_name_is_an_error_with_its_line(
    scenario: Scenario, clock: VirtualClock, line: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        _merchant_render(scenario, clock, f"<mjml>\n<mj-body>\n{line}")
    assert "custmer" in str(caught.value) and caught.value.line == 3


def test_dotted_names_read_context_items_and_dict_methods_as_jinja_does(
    scenario: Scenario, clock: VirtualClock
) -> None:
    body = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        "{{ customer.first_name }}|{{ store.keys() | list | length > 3 }}|"
        "{{ customer.middle_name is undefined }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    email = _merchant_render(scenario, clock, body)
    assert f"{scenario.customer.first_name}|True|True" in email.html
    with pytest.raises(TemplateError, match="middle_name"):
        _merchant_render(scenario, clock, body.replace(" is undefined", ""))


def test_invalid_mjml_is_a_template_error(scenario: Scenario, clock: VirtualClock) -> None:
    with pytest.raises(TemplateError, match="invalid MJML"):
        _merchant_render(scenario, clock, "<mjml><mj-body><mj-section>")


def test_merchant_text_is_html_escaped(scenario: Scenario, clock: VirtualClock) -> None:
    scenario.customer.first_name = "<script>alert(1)</script>"
    scenario.customer.save()
    email = _render(scenario, "thank-you", clock)
    tags: list[str] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append(tag)  # type: ignore[method-assign]
    parser.feed(email.html)
    assert "script" not in tags
    assert "Thank you, &lt;script&gt;alert(1)&lt;/script&gt;!" in email.html


def test_compiled_templates_are_cached_until_the_template_changes(
    scenario: Scenario, clock: VirtualClock
) -> None:
    template = scenario.templates["thank-you"]
    first = compile_template(template=template, part="body")
    assert compile_template(template=template, part="body") is first
    template.body_mjml = "<mjml><mj-body></mj-body></mjml>"
    template.updated_at = clock.advance(dt.timedelta(minutes=1))
    template.save()
    assert compile_template(template=template, part="body") is not first


def _as(scenario: Scenario, locale: str) -> Scenario:
    scenario.customer.locale = locale
    scenario.customer.save(update_fields=["locale"])
    return scenario


def test_a_german_reader_gets_the_german_variant_with_german_formats(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(_as(scenario, "de_AT"), "cross-sell-offer", clock)
    assert email.subject == "15 % Rabatt: ein paar Tipps für Sie"
    assert (
        "Gültig bis 18. März 2024" in email.text and "$ 4,25 (statt $ 5,00)" in email.text
    )  # Austria
    assert "Rabatt sichern" in email.html and "Abmelden" in email.text


def test_a_reader_of_a_language_without_variant_gets_english_in_their_countrys_formats(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(_as(scenario, "fr_FR"), "cross-sell-offer", clock)
    assert email.subject == "15% off: a few picks for you"
    assert "Valid until 18 March 2024" in email.text  # English as written in France


def test_the_store_locale_applies_to_customers_without_one(
    scenario: Scenario, clock: VirtualClock
) -> None:
    scenario.store.locale = "de_DE"
    scenario.store.save(update_fields=["locale"])
    assert _render(scenario, "thank-you", clock).subject.startswith("Vielen Dank")


def test_arabic_emails_run_right_to_left(scenario: Scenario, clock: VirtualClock) -> None:
    email = _render(_as(scenario, "ar"), "thank-you", clock)
    assert '<html lang="ar" dir="rtl"' in email.html
    assert "text-align:right" in email.html.replace(" ", "")
    assert email.subject == "شكرًا لطلبك يا Ada!"


def test_offers_show_a_countdown_image_of_their_expiry(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(scenario, "cross-sell-offer", clock)
    countdown = re.search(
        r'<img alt="([^"]+)"[^>]*src="([^"]+/i/countdown/[^"]+\.png)"', email.html
    )
    assert countdown and countdown.group(1) == "Time left to use your code: in 14 days"


def test_product_cards_show_ratings_quotes_and_at_most_four_products(
    store: Store, scenario: Scenario, clock: VirtualClock
) -> None:
    cookies = scenario.picks[0]
    cookies.rating, cookies.review_count, cookies.review_quote = 4.6, 128, "Crunchy and fresh."
    cookies.save()
    more = [make_product(store, name=f"Extra {i}") for i in range(4)]
    picks = [{"product_id": p.pk, "reason": ""} for p in [*scenario.picks, *more]]
    message = scenario.message("thank-you", now=clock.now(), recommendations=picks)
    email = render_message(message=message, now=clock.now())
    assert "★★★★★ 4.6 (128)" in email.text and "“Crunchy and fresh.”" in email.text
    assert email.text.count("Take a look (") == 4 and "Extra 1" in email.text
    assert "Extra 2" not in email.text


def test_upsell_frames_the_price_difference_against_what_was_bought(
    store: Store, scenario: Scenario, clock: VirtualClock
) -> None:
    milk = scenario.order.line_items.get(product__name="Whole Milk").product
    organic = make_product(store, name="Organic Whole Milk", price="4.99")
    picks = [
        {"product_id": organic.pk, "reason": "", "upgrade_of": milk.pk, "price_difference": "1.50"}
    ]
    message = scenario.message("upsell", now=clock.now(), recommendations=picks, coupon=None)
    email = render_message(message=message, now=clock.now())
    assert "Just $1.50 more than your Whole Milk" in email.text
    assert "costs just $1.50 more" in email.preheader


def test_checkout_recovery_without_a_known_checkout_still_invites_back(
    scenario: Scenario, clock: VirtualClock
) -> None:
    email = _render(scenario, "checkout-recovery", clock)
    assert "Your cart is saved" in email.text and "Return to your cart (https://shop" in email.text
