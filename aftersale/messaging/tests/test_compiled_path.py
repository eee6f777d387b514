"""The compiled way of finishing emails (shapes.py, outputflow.py, shapes.FusedOutput)
against its oracle, the plain Jinja2 render (AFTERSALE_COMPILED_EMAILS=false): for random
library and merchant templates and random customers, both ways give the same MIME
message byte for byte (headers, subject, text and HTML parts, tracked links), the same
boundary and Message-ID drawn on both sides. The one difference allowed is by design:
the compiled way's HTML part is joined from pieces already quoted-printable, so its soft
line breaks fall elsewhere; the part decodes to the same bytes, and encoded whole it is
the plain render's byte for byte. And the compiled way is bound to the Jinja2 whose
private code generator it builds on: another version fails here loudly and, in
production, turns the compiled way off."""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage

import jinja2
import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings
from hypothesis import (
    HealthCheck,
    currently_in_test_context,
    event,
    example,
    given,
    settings,
)
from hypothesis import strategies as st

from aftersale.customers.models import Customer
from aftersale.flows.selectors import definition_of
from aftersale.messaging import mime
from aftersale.messaging.delivery.sending import outgoing_email
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.rendering import render as rendering
from aftersale.messaging.rendering.compiled import shapes
from aftersale.messaging.rendering.render import TemplateError, compiled_emails, render_message
from aftersale.messaging.rendering.template_library import (
    install_default_templates,
    library_templates,
)
from aftersale.messaging.tests.factories import (
    make_coupon,
    make_customer,
    make_enrollment,
    make_message,
    make_order,
    make_product,
)
from aftersale.messaging.tests.markers import compiled_only
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)

# Few examples, each a handful of full renders: about half a minute on a 2-core machine.
# Byte identity is the renderer's: the database only holds the rows it reads, so the
# PostgreSQL pass (the suite's longest) checks a quarter as many worlds as SQLite's.
_ON_SQLITE = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
settings.register_profile(
    "compiled-path",
    max_examples=200 if _ON_SQLITE else 50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile("compiled-path")


# --- what customers, stores and products are made of --------------------------------

# Values that have broken, or could break, escaping, MIME or the compiled forms.
_AWKWARD = [
    "",
    " ",
    "Zoë",
    "O'Brien",
    '"Quoted" <b>bold</b> & co',
    "Tom & Jerry's <Shop>",
    "&amp; &lt;",
    "José María\xa0Núñez",
    "李小龙",
    "محمد",
    "😀 emoji",
    "a\\b\\u{a0}",
    "  padded  ",
    "tab\there",
    "bell\x07",  # control characters and noncharacters: cleaned (context.shown)
    "Tea\x1b\ufffe\x01\x0b",
    "line\nbreak",
    "{{ not a tag }}",
    "=?utf-8?b?x?=",
    ".starts with a dot",
    "\ue0000\ue001",
    "x" * 90,
    "Żółć " * 12,
]
# Any character but surrogates (no database stores them as UTF-8) and NUL (PostgreSQL
# refuses it), controls and noncharacters included: the context cleans what mrml would
# refuse (context.shown).
_CHARACTERS = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")
texts = st.one_of(
    st.sampled_from(_AWKWARD),
    st.text(alphabet=_CHARACTERS, max_size=30),
    st.text(alphabet=st.sampled_from("aZ é&<>\"' \xa0\\."), max_size=12),
)
long_texts = st.one_of(texts, st.text(alphabet=_CHARACTERS, min_size=100, max_size=250))
LOCALES = ["", "en_US", "en_GB", "de_DE", "de_AT", "fr_FR", "ar", "ar_SA", "ja_JP", "pt_BR"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "SAR", "INR"]
ZONES = ["", "UTC", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles"]
prices = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False)


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    locale: str
    time_zone: str
    bought: tuple[int, ...]  # indexes into the example's products
    picks: tuple[tuple[int, str], ...]  # (product index, reason)
    coupon: tuple[str, str] | None  # (kind, amount)


@dataclass(frozen=True)
class Goods:
    name: str
    price: Decimal
    rating: Decimal | None
    review_quote: str
    image: bool
    url: str


@dataclass(frozen=True)
class World:
    store_name: str
    currency: str
    store_locale: str
    logo: bool
    products: tuple[Goods, ...]
    people: tuple[Person, ...]
    in_flow: bool


goods = st.builds(
    Goods,
    name=long_texts,
    price=prices,
    rating=st.none() | st.decimals(min_value=1, max_value=5, places=1),
    review_quote=st.sampled_from(["", "Fresh every time."]) | texts,
    image=st.booleans(),
    url=st.sampled_from(["", "https://shop.example.com/p/1", "https://shop.example.com/p?x=1&y=é"]),
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    products = draw(st.lists(goods, min_size=1, max_size=5))
    indexes = st.integers(0, len(products) - 1)
    people = draw(
        st.lists(
            st.builds(
                Person,
                first_name=texts,
                last_name=texts,
                locale=st.sampled_from(LOCALES),
                time_zone=st.sampled_from(ZONES),
                bought=st.lists(indexes, max_size=3, unique=True).map(tuple),
                picks=st.lists(st.tuples(indexes, texts), max_size=5).map(tuple),
                coupon=st.none()
                | st.tuples(
                    st.sampled_from(["percent", "fixed"]), st.sampled_from(["10", "15", "5.50"])
                ),
            ),
            min_size=1,
            max_size=3,
        )
    )
    return World(
        store_name=draw(texts),
        currency=draw(st.sampled_from(CURRENCIES)),
        store_locale=draw(st.sampled_from([locale for locale in LOCALES if locale])),
        logo=draw(st.booleans()),
        products=tuple(products),
        people=tuple(people),
        in_flow=draw(st.booleans()),
    )


# --- merchant templates: the tokens and constructs merchants write -------------------

_VALUES = [
    "customer.first_name",
    "customer.last_name",
    "customer.email",
    "store.name",
    "store.address",
    "shop_url",
    "phrases.unsubscribe",
    "locale.language",
]
_FILTERS = [
    "",
    " | upper",
    " | lower",
    " | title",
    " | capitalize",
    " | trim",
    " | default('friend', true)",
    " | truncate(12)",
    " | e",
    " | striptags",
    " | replace('a', 'á')",
    " | urlencode",
    " | length",
    " | wordcount",
    " | center(20)",
]
_LITERALS = ["Hi ", ", ", "&amp; ", "<b>bold</b>", "<br/>", "Zoë ", "—", " ", "\n", "&nbsp;"]


def _value(draw: st.DrawFn, names: list[str]) -> str:
    return f"{{{{ {draw(st.sampled_from(names))}{draw(st.sampled_from(_FILTERS))} }}}}"


@st.composite
def inline(
    draw: st.DrawFn, depth: int = 0, names: tuple[str, ...] = (), *, links: bool = True
) -> str:
    """A run of text for inside an mj-text: literals, values, links (unless not
    `links`), conditionals, loops."""
    here = [*_VALUES, *names]
    pieces = []
    kinds = ["literal", "value", "value", *(["link"] if links else []), "if", "for", "coupon"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        if kind == "literal":
            pieces.append(draw(st.sampled_from(_LITERALS)))
        elif kind == "value":
            pieces.append(_value(draw, here))
        elif kind == "link":
            href = draw(
                st.sampled_from(
                    [
                        "{{ shop_url }}",
                        "{{ shop_url }}/c?ref={{ customer.first_name | urlencode }}",
                        "https://shop.example.com/sale?n={{ customer.last_name }}",
                        "https://elsewhere.example.org/{{ customer.first_name }}",
                        "mailto:{{ customer.email }}",
                        "{{ unsubscribe_url }}",
                    ]
                )
            )
            title = draw(st.sampled_from(["", ' title="{{ customer.first_name }}"']))
            pieces.append(f'<a href="{href}"{title}>{_value(draw, here)}</a>')
        elif depth < 2 and kind == "if":
            test = draw(
                st.sampled_from(
                    [
                        "customer.first_name",
                        "not customer.last_name",
                        "bought",
                        "recommendations | length > 1",
                        "customer.first_name == 'Zoë'",
                    ]
                )
            )
            then = draw(inline(depth + 1, names, links=links))
            otherwise = draw(st.sampled_from(["", "{% else %}there"]))
            pieces.append(f"{{% if {test} %}}{then}{otherwise}{{% endif %}}")
        elif depth < 2 and kind == "for":
            loop = draw(st.sampled_from(["bought", "recommendations", "order.lines"]))
            guard = "{% if order %}" if loop == "order.lines" else ""
            item = (
                ("p.name", "p.price", "p.url") if loop != "order.lines" else ("p.name", "p.total")
            )
            body = draw(inline(depth + 1, (*names, *item), links=links))
            separator = draw(st.sampled_from(["", "{% if not loop.last %}, {% endif %}"]))
            loop_text = f"{{% for p in {loop} %}}{body}{separator}{{% endfor %}}"
            pieces.append(f"{guard}{loop_text}{'{% endif %}' if guard else ''}")
        elif kind == "coupon":
            pieces.append(
                "{% if coupon %}"
                + draw(
                    st.sampled_from(
                        [
                            "{{ coupon.code }}",
                            "{{ coupon.discount_text }} until {{ coupon.expires_on }}",
                            "<strong>{{ coupon.code }}</strong> {{ coupon.minimum_order_text }}",
                        ]
                    )
                )
                + "{% endif %}"
            )
    return "".join(pieces)


@st.composite
def column_blocks(draw: st.DrawFn) -> str:
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["text", "text", "button", "image", "heading", "set"]))
        if kind == "text":
            attributes = draw(
                st.sampled_from(["", ' align="center"', ' color="{{ store.brand_color }}"'])
            )
            blocks.append(f"<mj-text{attributes}>{draw(inline())}</mj-text>")
        elif kind == "button":
            blocks.append(f'<mj-button href="{{{{ shop_url }}}}">{draw(inline())}</mj-button>')
        elif kind == "image":
            blocks.append(
                "{% for p in recommendations[:2] %}{% if p.image_url %}"
                '<mj-image src="{{ p.image_url }}" alt="{{ p.name }}" href="{{ p.url }}" />'
                "{% endif %}{% endfor %}"
            )
        elif kind == "heading":
            blocks.append('{{ ui.heading("Hi " ~ customer.first_name) }}')
        else:  # captured output: written out (proved), or measured (rendered twice)
            use = draw(
                st.sampled_from(["{{ s }}", "{{ s | upper }}", "{% if s %}[{{ s }}]{% endif %}"])
            )
            blocks.append(f"{{% set s %}}{draw(inline())}{{% endset %}}<mj-text>{use}</mj-text>")
    return "".join(blocks)


@st.composite
def sections(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["column", "column", "cards", "coupon", "picks", "order", "macro"]))
    if kind == "cards":
        return '{{ ui.product_cards(recommendations, "Take a look") }}'
    if kind == "coupon":
        return "{% if coupon %}{{ ui.coupon_box(coupon, store.brand_color) }}{% endif %}"
    if kind == "picks":
        return "{{ ui.subtle_picks(recommendations, phrases.unsubscribe) }}"
    if kind == "order":
        return (
            "{% if order %}{{ ui.order_summary(order, {'item': 'Item', 'quantity': 'Qty', "
            "'price': 'Price', 'subtotal': 'Subtotal', 'discount': 'Discount', 'total': "
            "'Total', 'payment': 'Paid', 'shipping_to': 'To', 'expected_delivery': 'By'}, "
            "locale) }}{% endif %}"
        )
    if kind == "macro":
        return (
            "{% macro greet(name) %}<mj-section><mj-column><mj-text>{% if name %}Dear "
            "{{ name }}{% else %}Hello{% endif %}</mj-text></mj-column></mj-section>"
            "{% endmacro %}{{ greet(customer.first_name) }}"
        )
    return f"<mj-section><mj-column>{draw(column_blocks())}</mj-column></mj-section>"


FONT = '<mj-attributes><mj-all font-family="Helvetica, Arial, sans-serif" /></mj-attributes>'


@st.composite
def merchant_templates(draw: st.DrawFn) -> tuple[str, str, str]:
    """(subject, preheader, body) as a merchant might write them."""
    body = "".join(draw(st.lists(sections(), min_size=1, max_size=4)))
    if draw(st.booleans()):
        source = (
            '{% extends "layout.mjml.j2" %}{% import "components.mjml.j2" as ui %}'
            f"{{% block content %}}{body}{{% endblock %}}"
        )
    else:  # with a font: see test_a_template_without_a_font_family_...
        source = (
            '{% import "components.mjml.j2" as ui %}<mjml><mj-head><mj-title>{{ subject }}'
            f"</mj-title>{FONT}</mj-head><mj-body>{body}</mj-body></mjml>"
        )
    # No links: HTML in the subject is written into <title>, where the compiled form
    # would see its href once css-inline unescapes the quotes (refused, the slow way).
    # A subject template fits EmailTemplate.subject (PostgreSQL enforces the 300).
    subject = draw(inline(links=False).filter(lambda text: len(text) <= 300))
    preheader = draw(st.sampled_from(["", "{{ preheader_text }}", "For {{ customer.first_name }}"]))
    return subject, preheader.replace("{{ preheader_text }}", "{{ store.name }}"), source


# --- building and rendering ------------------------------------------------------------

# The same bytes for each side's boundary and Message-ID (mime.random_hex draws them).
_POOL = bytes(range(256)) * (mime._RANDOM_POOL_BYTES // 256)


def _seed_random_pool(*, drawn: int = 0) -> None:
    """Fill mime's pool of random bytes with _POOL, less the last `drawn` bytes."""
    with mime._random_lock:
        mime._random_pool[:] = _POOL[: len(_POOL) - drawn]


def _messages(world: World, *, template_slug: str, store: Store) -> Iterator[Message]:
    products = [
        make_product(store, name=goods.name, price=str(goods.price)) for goods in world.products
    ]
    for product, goods in zip(products, world.products, strict=True):
        product.rating = goods.rating
        product.review_count = 7 if goods.rating else 0
        product.review_quote = goods.review_quote
        product.image_url = product.image_url if goods.image else ""
        product.url = goods.url and f"{goods.url}{'&' if '?' in goods.url else '?'}id={product.pk}"
        product.save()
    template = EmailTemplate.objects.get(store=store, slug=template_slug)
    for person in world.people:
        customer = make_customer(store, now=T0, first_name=person.first_name)
        Customer.objects.filter(pk=customer.pk).update(
            last_name=person.last_name, locale=person.locale, time_zone=person.time_zone
        )
        customer.refresh_from_db()
        order = None
        if person.bought:
            order = make_order(
                store, customer, now=T0, lines=[(products[i], 1 + i) for i in person.bought]
            )
        coupon = None
        if person.coupon is not None:
            kind, amount = person.coupon
            coupon = make_coupon(store, customer, now=T0, kind=kind, amount=amount)
        enrollment = (
            make_enrollment(store, customer, now=T0, order=order) if world.in_flow else None
        )
        message = make_message(
            template=template,
            customer=customer,
            now=T0,
            enrollment=enrollment,
            order=None if world.in_flow else order,
            recommendations=[
                {"product_id": products[index].pk, "reason": reason}
                for index, reason in person.picks
            ],
            coupon=coupon,
        )
        message.refresh_from_db()
        yield message


@dataclass(frozen=True)
class Sent:
    """What one way of rendering gave: the MIME message and the tracked links, or the
    TemplateError's text. `mime` is the message with its parts encoded from each text
    as a whole, which is how the plain render's is; `as_sent` the message as it goes out,
    whose text and HTML parts the compiled way joins from pieces already quoted-printable (see
    _same_but_soft_line_breaks)."""

    mime: bytes = b""
    links: tuple[str, ...] = ()
    error: str = ""
    as_sent: bytes = field(default=b"", compare=False, repr=False)

    def parts(self) -> tuple[str, str, str]:
        """Subject, text and HTML, to say which part differs."""
        if self.error:
            return self.error, "", ""
        parsed = message_from_bytes(self.mime, _class=EmailMessage, policy=policy.default)
        text, html = (parsed.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
        assert text is not None and html is not None
        return str(parsed["Subject"]), text.get_content(), html.get_content()


def _send(message: Message) -> Sent:
    try:
        rendered = render_message(message=message, now=T0)
    except TemplateError as exc:
        return Sent(error=str(exc))
    try:
        _seed_random_pool()
        email = outgoing_email(message=message, rendered=rendered, now=T0).email
        boundary = mime.random_hex(12)  # what mime.render draws next, for its boundary
        _seed_random_pool(drawn=8)  # as after the Message-ID
        as_sent = mime.render(email)
        _seed_random_pool(drawn=8)
        whole = mime.render(dataclasses.replace(email, html_quoted=(), text_quoted=()))
    finally:
        with mime._random_lock:  # the OS's bytes again from the next draw
            mime._random_pool.clear()
    _same_but_soft_line_breaks(as_sent, whole, boundary=f"=_aftersale_{boundary}".encode())
    return Sent(mime=whole, links=rendered.links, as_sent=as_sent)


def _same_but_soft_line_breaks(as_sent: bytes, whole: bytes, *, boundary: bytes) -> None:
    """`as_sent` is `whole` but for where the text and HTML parts' quoted-printable
    lines break: the compiled way joins them from pieces that each end with a soft line
    break. Every other byte is the same, each part decodes to the same bytes, and no
    line is longer than 76 characters or starts with "."."""
    # The boundary's parameter, the text part, the HTML part, the end.
    sent_head, named, *sent_parts, sent_end = as_sent.split(boundary)
    whole_head, whole_named, *whole_parts, whole_end = whole.split(boundary)
    assert (sent_head, named, sent_end) == (whole_head, whole_named, whole_end)
    assert len(sent_parts) == len(whole_parts) == 2
    for sent_part, whole_part in zip(sent_parts, whole_parts, strict=True):
        sent_headers, _, sent_body = sent_part.partition(b"\r\n\r\n")
        whole_headers, _, whole_body = whole_part.partition(b"\r\n\r\n")
        assert sent_headers == whole_headers
        if sent_body == whole_body:
            continue
        assert b"Content-Transfer-Encoding: quoted-printable" in sent_headers
        lines = sent_body.removesuffix(b"\r\n--").split(b"\r\n")
        assert all(len(line) <= 76 and not line.startswith(b".") for line in lines)
        assert binascii.a2b_qp(sent_body) == binascii.a2b_qp(whole_body)


def _plainly(message: Message) -> Sent:
    with override_settings(COMPILED_EMAILS=False):
        assert not compiled_emails()
        return _send(message)


class _Refusals(logging.Handler):
    """Collects the compiled way's own finding that a form differed from the slow render."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(record.getMessage())


def check_both_ways_agree(
    world: World, *, template_slug: str, merchant: tuple[str, ...] = (), refused: bool = False
) -> None:
    """Every email of `world` rendered the compiled way (twice: the first of a form is
    finished the slow way, the second from the form) is the plain render, byte for byte;
    and no compiled form was found to differ from the slow render (`refused`: one was,
    and every email was finished the slow way)."""
    definition_of.cache_clear()  # row ids are reused after each example's rollback
    shapes.forget_shapes()  # each example on its own, so a failure can be replayed
    refusals = _Refusals()
    logging.getLogger(shapes.__name__).addHandler(refusals)
    try:
        with transaction.atomic():
            store = create_store(
                name=world.store_name,
                slug="oracle",
                now=T0,
                currency=world.currency,
                locale=world.store_locale,
                logo_url="https://cdn.example.com/logo.png" if world.logo else "",
            )
            install_default_templates(store=store, now=T0)
            if merchant:
                subject, preheader, body = merchant
                EmailTemplate.objects.filter(store=store, slug=template_slug).update(
                    subject=subject, preheader=preheader, body_mjml=body, translations={}
                )
            messages = list(_messages(world, template_slug=template_slug, store=store))
            assert compiled_emails()
            first = [_send(message) for message in messages]
            again = [_send(message) for message in messages]
            plain = [_plainly(message) for message in messages]
            transaction.set_rollback(True)
    finally:
        logging.getLogger(shapes.__name__).removeHandler(refusals)
    if currently_in_test_context():  # for --hypothesis-show-statistics
        event(f"compiled forms made: {min(shapes.compiled_forms()[0], 3)}")
        for sent in plain:
            event(f"template error: {sent.error.partition(': ')[2][:30]}" if sent.error else "ok")
    for compiled in (first, again):
        assert [s.parts() for s in compiled] == [s.parts() for s in plain]
        assert compiled == plain
    assert bool(refusals.found) == refused, refusals.found


LIBRARY_SLUGS = [entry.slug for entry in library_templates()]  # the shipped library


@pytest.fixture
def fresh_shapes() -> Iterator[None]:
    shapes.forget_shapes()
    yield
    shapes.forget_shapes()


def _world(*first_names: str) -> World:
    """A small world of one product and a customer of each of `first_names`."""
    return World(
        store_name="Test Shop",
        currency="USD",
        store_locale="en_US",
        logo=False,
        products=(Goods("Milk", Decimal("3.49"), None, "", True, ""),),
        people=tuple(
            Person(name, "", "", "", (0,), ((0, "Goes well"),), ("percent", "15"))
            for name in first_names
        ),
        in_flow=True,
    )


@compiled_only
@settings(PROFILE)
@given(world=worlds(), slug=st.sampled_from(LIBRARY_SLUGS))
# A name made of a sentinel's marks was baked into a form as a slot of its own.
@example(world=_world("\ue0000\ue001", "Ada"), slug="thank-you")
def test_compiled_email_is_byte_identical_to_plain_render_for_library_templates(
    db: None, world: World, slug: str
) -> None:
    check_both_ways_agree(world, template_slug=slug)


@compiled_only
@settings(PROFILE)
@given(world=worlds(), template=merchant_templates())
def test_compiled_email_is_byte_identical_to_plain_render_for_merchant_templates(
    db: None, world: World, template: tuple[str, str, str]
) -> None:
    check_both_ways_agree(world, template_slug="thank-you", merchant=template)


# --- the Jinja2 the compiled way was written against ----------------------------------


def test_the_installed_jinja2_is_the_minor_version_the_compiled_path_was_written_for() -> None:
    problem = shapes.jinja2_problem()
    assert problem is None, (
        f"{problem}. shapes.FusedOutput overrides private methods of "
        f"jinja2.compiler.CodeGenerator ({', '.join(shapes.PRIVATE_CODEGENERATOR_METHODS)}) "
        f"and reads Frame.{', Frame.'.join(shapes.PRIVATE_FRAME_ATTRIBUTES)}: written for "
        f"Jinja2 {shapes.JINJA2_WRITTEN_FOR}.x (pyproject.toml bounds it). Check FusedOutput "
        "against the new jinja2/compiler.py, run this module, then move the bound and "
        "shapes.JINJA2_WRITTEN_FOR."
    )
    assert jinja2.__version__.startswith(f"{shapes.JINJA2_WRITTEN_FOR}."), (
        f"Jinja2 {jinja2.__version__} is installed; shapes.FusedOutput uses the private "
        f"jinja2.compiler API of Jinja2 {shapes.JINJA2_WRITTEN_FOR}.x"
    )
    for name in shapes.PRIVATE_CODEGENERATOR_METHODS:
        assert callable(getattr(jinja2.compiler.CodeGenerator, name, None)), (
            f"jinja2.compiler.CodeGenerator.{name}, which shapes.FusedOutput uses, is gone "
            f"from Jinja2 {jinja2.__version__} (written for {shapes.JINJA2_WRITTEN_FOR}.x)"
        )
    for name in ("Frame", "optimizeconst"):
        assert hasattr(jinja2.compiler, name), (
            f"jinja2.compiler.{name}, which shapes.FusedOutput uses, is gone from Jinja2 "
            f"{jinja2.__version__} (written for {shapes.JINJA2_WRITTEN_FOR}.x)"
        )


@pytest.mark.parametrize("version", ["3.0.3", "3.2.0", "4.0.0"])
def test_another_jinja2_minor_version_is_named_as_a_problem(version: str) -> None:
    problem = shapes.jinja2_problem(version)
    assert problem is not None and version in problem and "3.1.x" in problem
    assert "private" in problem and "CodeGenerator" in problem


def test_a_missing_private_name_is_named_as_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(jinja2.compiler.CodeGenerator, "_output_child_pre")
    problem = shapes.jinja2_problem()
    assert problem is not None and "CodeGenerator._output_child_pre" in problem


@pytest.fixture
def unsupported_jinja2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if another Jinja2 than the compiled way's were installed."""
    monkeypatch.setattr(rendering, "jinja2_problem", lambda: shapes.jinja2_problem("3.2.0"))
    rendering._compiled_way_works.cache_clear()
    yield
    rendering._compiled_way_works.cache_clear()


def test_with_another_jinja2_the_compiled_path_turns_itself_off_and_the_plain_render_takes_over(
    unsupported_jinja2: None,
    fresh_shapes: None,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_default_templates(store=store, now=T0)
    (message,) = _messages(_world("Ada"), template_slug="cross-sell-offer", store=store)
    with (
        override_settings(COMPILED_EMAILS=True),  # asked for, yet off
        caplog.at_level(logging.WARNING, logger=rendering.__name__),
    ):
        assert not compiled_emails()
        sent = [_send(message) for _ in range(2)]
    warnings = [r.getMessage() for r in caplog.records if r.name == rendering.__name__]
    assert len(warnings) == 1 and "Jinja2 3.2.0" in warnings[0] and "plain way" in warnings[0]
    assert sent[0] == sent[1] == _plainly(message) and not sent[0].error
    assert shapes.compiled_forms() == (0, 0)


@compiled_only
def test_a_template_without_a_font_family_is_finished_the_slow_way_to_the_same_bytes(
    db: None,
) -> None:
    # mrml links Google Fonts' stylesheet when no font is set. The plain render tracks
    # that <link>'s href as the email's link 0, then css-inline drops the element; a
    # compiled form has no such link, so its links are numbered from 0 and it differs
    # from the slow render: it is refused and every such email is finished the slow way.
    body = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ customer.first_name }} "
        '<a href="{{ shop_url }}">shop</a></mj-text></mj-column></mj-section></mj-body></mjml>'
    )
    check_both_ways_agree(
        _world("Ada", "Bob"), template_slug="thank-you", merchant=("Hi", "", body), refused=True
    )
