"""The template library's own words read right for every customer: every template, in
every language it ships, rendered both ways (compiled and plain) for a customer without
a first name, one with a very long name and one with a right-to-left (Arabic) name, greets
them in a sentence (subject, preheader, the HTML and the plain-text part); the store's
name gets no second article; the coupon's wording follows its real expiry; each pick
says its own reason; ALL-CAPS product names read as names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from lxml import html as lxml_html

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.rendering.context import ENDS_SOON, team_signature
from aftersale.messaging.rendering.locale import phrases
from aftersale.messaging.rendering.names import display_name
from aftersale.messaging.rendering.render import RenderedEmail, render_message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.messaging.tests.factories import (
    make_coupon,
    make_customer,
    make_enrollment,
    make_message,
    make_order,
    make_product,
)
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

NO_NAME = ""
LONG_NAME = "Maximiliana Josefina Alexandrina Theodora Wilhelmina Konstantina Evangelina"
ARABIC_NAME = "محمد"
NAMES = [NO_NAME, "   ", LONG_NAME, ARABIC_NAME]
STORE_NAME = "The Little Gift Shop"
SIGN = "COOK WITH WINE METAL SIGN"
REASONS = [f"Goes with your {SIGN}", "Popular with our customers", "Popular in Kitchen"]

# What is left of a sentence whose name went missing: "Hi ,", "Thank you, !", a heading
# starting with a comma, an Arabic vocative "يا" with nobody after it.
_DANGLING = [
    re.compile(r"\s[,،!?؟.:;]"),
    re.compile(r"[,،]\s*[,،!?؟.:;]"),
    re.compile(r"(?:^|\n)\s*[,،]"),
    re.compile(r"(?<!\w)يا\s*(?:[,،!?؟.:;]|$)", re.MULTILINE),
]
# "The The Little Gift Shop team" (German "Sie sie" is a sentence, so articles only).
_DOUBLED_ARTICLE = re.compile(r"(?<!\w)(the|a|an|der|die|das)\s+\1(?!\w)", re.IGNORECASE)
_DOUBLE_SPACE = re.compile(r"\S {2,}\S")


@dataclasses.dataclass
class Shop:
    """A store named "The ..." with a bought ALL-CAPS product, three picks from three
    sources and every library template."""

    store: Store
    bought: Product
    picks: list[Product]
    templates: list[EmailTemplate]

    def order_for(self, customer: Customer, *, now: dt.datetime) -> Order:
        return make_order(self.store, customer, now=now, lines=[(self.bought, 1)])


@pytest.fixture
def shop(db: None, clock: VirtualClock) -> Shop:
    store = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name=STORE_NAME,
        slug="gift-shop",
        now=clock.now(),
    )
    return Shop(
        store=store,
        bought=make_product(store, name=SIGN, price="12.00"),
        picks=[
            make_product(store, name="JUMBO BAG RED RETROSPOT", price="8.00"),
            make_product(store, name="Enamel Mug 12OZ XL", price="6.00"),
            make_product(store, name="Wooden Spoon Set", price="9.00"),
        ],
        templates=install_default_templates(store=store, now=clock.now()),
    )


def _variants(shop: Shop) -> Iterator[tuple[EmailTemplate, str]]:
    for template in shop.templates:
        for locale in [template.locale, *sorted(template.translations)]:
            yield template, locale


def _render(
    shop: Shop,
    template: EmailTemplate,
    *,
    first_name: str,
    locale: str,
    clock: VirtualClock,
    coupon_days: float = 14,
) -> RenderedEmail:
    """`template` rendered for a new customer of `first_name` reading `locale`, about
    their order of the sign, with the three picks and a coupon valid `coupon_days`."""
    now = clock.now()
    customer = make_customer(shop.store, now=now, first_name=first_name)
    Customer.objects.filter(pk=customer.pk).update(locale=locale)
    customer.refresh_from_db()
    order = shop.order_for(customer, now=now)
    coupon = make_coupon(shop.store, customer, now=now)
    coupon.expires_at = now + dt.timedelta(days=coupon_days)
    coupon.save(update_fields=["expires_at"])
    message = make_message(
        template=template,
        customer=customer,
        now=now,
        enrollment=make_enrollment(shop.store, customer, now=now, order=order),
        recommendations=[
            {"product_id": pick.pk, "reason": reason}
            for pick, reason in zip(shop.picks, REASONS, strict=True)
        ],
        coupon=coupon,
    )
    message.refresh_from_db()
    return render_message(message=message, now=now)


def _both_ways(
    shop: Shop, template: EmailTemplate, **how: Any
) -> Iterator[tuple[str, RenderedEmail]]:
    """The email (see `_render`) rendered the compiled way, then the plain way."""
    yield "compiled", _render(shop, template, **how)
    with override_settings(COMPILED_EMAILS=False):
        yield "plain", _render(shop, template, **how)


def _texts(email: RenderedEmail) -> Iterator[tuple[str, str]]:
    """What a reader sees, piece by piece: subject, preheader, and each visible text of
    the HTML (as written, before a browser collapses its spaces)."""
    yield "subject", email.subject
    yield "preheader", email.preheader
    page = lxml_html.document_fromstring(email.html)
    for element in page.body.iter():
        if not isinstance(element.tag, str) or element.tag in {"style", "script"}:
            continue
        for piece in (element.text, element.tail):
            if piece and piece.strip():
                yield f"<{element.tag}>", piece.strip()


def _plain_lines(email: RenderedEmail) -> Iterator[tuple[str, str]]:
    """The plain-text part's lines, as a reader of that part sees them."""
    for line in email.text.splitlines():
        if line.strip():
            yield "text part", line.strip()


def _sentence_problems(email: RenderedEmail, *, first_name: str, language: str) -> Iterator[str]:
    name = " ".join(first_name.split())
    seen = " ".join(text for _, text in _texts(email))
    for where, text in [*_texts(email), *_plain_lines(email)]:
        for pattern in _DANGLING:
            if pattern.search(text):
                yield f"{where} {text!r}: a sentence missing its name"
        doubled = _DOUBLED_ARTICLE.search(text)
        if doubled:
            yield f"{where} {text!r}: {doubled.group(0)!r} doubled"
        if _DOUBLE_SPACE.search(text):
            yield f"{where} {text!r}: a double space"
        if not name and re.search(rf"(?<!\w){re.escape(phrases(language)['there'])}(?!\w)", text):
            yield f"{where} {text!r}: a stand-in for the missing name"
    if name and name not in email.subject and name not in seen:
        yield f"the name {name!r} is nowhere"
    page = lxml_html.document_fromstring(email.html)
    wanted = "rtl" if language == "ar" else "ltr"
    if page.get("dir") != wanted:
        yield f"text direction {page.get('dir')!r}, not {wanted!r}"


def test_every_library_template_greets_every_customer_in_a_sentence_in_every_language(
    shop: Shop, clock: VirtualClock
) -> None:
    problems: list[str] = []
    for template, locale in _variants(shop):
        for first_name in NAMES:
            for way, email in _both_ways(
                shop, template, first_name=first_name, locale=locale, clock=clock
            ):
                where = f"{template.slug} [{locale}, {way}, name {first_name!r}]"
                problems += [
                    f"{where}: {problem}"
                    for problem in _sentence_problems(email, first_name=first_name, language=locale)
                ]
    assert not problems, "\n".join(problems)


def _seen(email: RenderedEmail) -> str:
    return " | ".join(text for _, text in _texts(email))


@pytest.mark.parametrize(
    ("store_name", "language", "signature"),
    [
        ("The Little Gift Shop", "en", "The Little Gift Shop team"),
        ("the corner shop", "en", "the corner shop team"),
        ("Theo's Teas", "en", "The Theo's Teas team"),
        ("Little Gift Shop", "en", "The Little Gift Shop team"),
        ("The Little Gift Shop", "de", "Ihr Team von The Little Gift Shop"),
        ("Der Laden", "de", "Ihr Team von Der Laden"),
        ("المتجر الصغير", "ar", "فريق المتجر الصغير"),
    ],
)
def test_a_store_whose_name_starts_with_the_is_signed_off_without_a_second_article(
    store_name: str, language: str, signature: str
) -> None:
    assert team_signature(store_name, words=phrases(language)) == signature


def test_the_thank_you_email_of_a_store_named_the_signs_off_with_one_article(
    shop: Shop, clock: VirtualClock
) -> None:
    template = next(t for t in shop.templates if t.slug == "thank-you")
    for way, email in _both_ways(shop, template, first_name="Ada", locale="en", clock=clock):
        assert "The Little Gift Shop team" in _seen(email), way
        assert "The The" not in email.html and "The The" not in email.text, way


def _slug(shop: Shop, slug: str) -> EmailTemplate:
    return next(t for t in shop.templates if t.slug == slug)


def test_a_code_valid_for_two_weeks_is_reminded_plainly_with_its_real_expiry(
    shop: Shop, clock: VirtualClock
) -> None:
    for slug in ("offer-reminder", "cross-sell-offer"):
        for way, email in _both_ways(
            shop, _slug(shop, slug), first_name="Ada", locale="en", clock=clock
        ):
            seen = f"{email.subject} | {_seen(email)}"
            assert "Last chance" not in seen and "this week" not in seen, (slug, way, seen)
            assert "before it's gone" not in seen, (slug, way, seen)
            assert "until March 18, 2024" in seen, (slug, way, seen)
    (_, german), _ = _both_ways(
        shop, _slug(shop, "cross-sell-offer"), first_name="Ada", locale="de", clock=clock
    )
    assert "diese Woche" not in _seen(german) and "bis zum 18. März 2024" in _seen(german)


@pytest.mark.parametrize("hours_left", [20, 48])
def test_a_code_ending_within_two_days_gets_the_last_chance_reminder(
    shop: Shop, clock: VirtualClock, hours_left: int
) -> None:
    for way, email in _both_ways(
        shop,
        _slug(shop, "offer-reminder"),
        first_name="",
        locale="en",
        clock=clock,
        coupon_days=hours_left / 24,
    ):
        assert email.subject.startswith("Last chance: your 15% off expires in"), way
        assert "Last chance" in _seen(email) and ", there" not in _seen(email), way


def test_a_code_with_more_than_two_days_left_is_not_ending_soon(
    shop: Shop, clock: VirtualClock
) -> None:
    (_, email), _ = _both_ways(
        shop,
        _slug(shop, "offer-reminder"),
        first_name="Ada",
        locale="en",
        clock=clock,
        coupon_days=49 / 24,
    )
    assert email.subject.startswith("A reminder: your 15% off is yours until")
    assert dt.timedelta(hours=48) == ENDS_SOON  # the documented threshold


def test_each_pick_says_its_own_reason_under_an_intro_that_names_no_one_product(
    shop: Shop, clock: VirtualClock
) -> None:
    reasons = {
        "en": "Goes with your Cook With Wine Metal Sign",
        "de": "Goes with your Cook With Wine Metal Sign",  # reasons are the recommender's
        "ar": "Goes with your Cook With Wine Metal Sign",
    }
    for language, first_reason in reasons.items():
        for way, email in _both_ways(
            shop, _slug(shop, "cross-sell-offer"), first_name="Ada", locale=language, clock=clock
        ):
            texts = [text for _, text in _texts(email)]
            intro = next(t for t in texts if t.startswith(("We picked", "Wir haben", "اخترنا")))
            assert "Sign" not in intro and "SIGN" not in intro and "pair" not in intro, intro
            for reason in [first_reason, *REASONS[1:]]:
                assert reason in texts, (language, way, reason, texts)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("COOK WITH WINE METAL SIGN", "Cook With Wine Metal Sign"),
        ("PACK OF 72 RETROSPOT CAKE CASES", "Pack of 72 Retrospot Cake Cases"),
        ("WHITE HANGING HEART T-LIGHT HOLDER", "White Hanging Heart T-Light Holder"),
        ("ENAMEL MUG 12OZ XL", "Enamel Mug 12OZ XL"),
        ("USB CABLE XXL", "USB Cable XXL"),
        ("TV STAND 4K BLACK", "TV Stand 4K Black"),
        ("DON'T PANIC MUG", "Don't Panic Mug"),
        ("Goes with your JUMBO BAG RED", "Goes with your Jumbo Bag Red"),
        # As they came: mixed case, one shouted word, a short pair, no case at all.
        ("iPhone Case", "iPhone Case"),
        ("Enamel Mug 12OZ XL", "Enamel Mug 12OZ XL"),
        ("IKEA", "IKEA"),
        ("LED TV", "LED TV"),
        ("محمد", "محمد"),
        ("", ""),
    ],
)
def test_all_caps_product_names_are_shown_in_title_case_keeping_sizes_and_acronyms(
    name: str, shown: str
) -> None:
    assert display_name(name) == shown


def test_library_emails_show_all_caps_names_in_title_case(shop: Shop, clock: VirtualClock) -> None:
    for slug in ("cross-sell-offer", "thank-you", "cross-sell"):
        for way, email in _both_ways(
            shop, _slug(shop, slug), first_name="Ada", locale="en", clock=clock
        ):
            seen = f"{email.subject} | {_seen(email)} | {email.text}"
            assert "JUMBO BAG" not in seen and "COOK WITH" not in seen, (slug, way)
            assert "Jumbo Bag Red Retrospot" in seen or "Cook With Wine Metal Sign" in seen
