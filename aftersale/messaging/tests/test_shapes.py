"""Emails finished from the compiled form of their shape are exactly the emails the
slow path renders: every library template, every language, customers of different
shapes, and values that need escaping."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from aftersale.customers.models import Customer
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.delivery.sending import outgoing_email
from aftersale.messaging.mime import render
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.rendering.compiled import shapes
from aftersale.messaging.rendering.context import build_context
from aftersale.messaging.rendering.render import _HTML_ENV, RenderedEmail, render_message
from aftersale.messaging.tests.factories import make_coupon, make_message
from aftersale.messaging.tests.markers import compiled_only
from aftersale.messaging.tests.test_library import Grocer, grocer  # noqa: F401  (fixture)
from aftersale.messaging.tests.test_mime import parse, parts
from aftersale.orders.models import Order


@pytest.fixture(autouse=True)
def no_shapes_yet() -> Iterator[None]:
    shapes.forget_shapes()
    yield
    shapes.forget_shapes()


def _messages(demo: Grocer, clock: VirtualClock) -> Iterator[Message]:
    """A message of every template in every language for three customers: the demo
    customer with their picks, one with no order and no picks, one whose picks'
    ratings, quotes and names differ (quotes, ampersands, non-ASCII, no-break space)."""
    others = list(Customer.objects.filter(store=demo.store).exclude(pk=demo.customer.pk)[:2])
    last_pick = demo.picks[-1]["product_id"]
    assert isinstance(last_pick, int)
    odd = demo.store.products.filter(pk=last_pick)
    odd.update(
        name='Crème "brûlée" & <Tom\'s>\xa0jar',
        rating=Decimal("3.2"),
        review_count=3,
        review_quote="Nice\u00a0& quiet",
    )
    cases = [
        (demo.customer, demo.order, demo.picks),
        (others[0], None, []),
        (others[1], Order.objects.filter(customer=others[1]).first(), demo.picks[::-1][:3]),
    ]
    for template in demo.templates:
        for locale in [template.locale, *sorted(template.translations)]:
            for customer, order, picks in cases:
                customer.locale = locale
                customer.first_name = customer.first_name or "Zoë"
                customer.save()
                message = make_message(
                    template=template,
                    customer=customer,
                    now=clock.now(),
                    order=order,
                    recommendations=picks,
                    coupon=make_coupon(demo.store, customer, now=clock.now()),
                )
                message.refresh_from_db()
                yield message


@compiled_only
def test_emails_from_compiled_shapes_equal_the_slow_render_for_every_library_template(
    grocer: Grocer,  # noqa: F811
    clock: VirtualClock,
) -> None:
    slow: dict[int, RenderedEmail] = {}
    messages = list(_messages(grocer, clock))
    for message in messages:  # the first email of each shape is rendered the slow way
        slow[message.pk] = render_message(message=message, now=clock.now())
    in_use, refused = shapes.compiled_forms()
    assert in_use > 0 and refused == 0
    differ = []
    for message in messages:
        email = render_message(message=message, now=clock.now())
        # The HTML part quoted-printable from the form's pieces parses back as the HTML.
        sent = outgoing_email(message=message, rendered=email, now=clock.now()).email
        if email != slow[message.pk] or parts(parse(render(sent)))[1] != email.html:
            differ.append(f"{message.template.slug} [{message.customer.locale}] {message.pk}")
    assert not differ, differ


def test_a_template_that_computes_with_its_own_output_renders_the_slow_way(
    grocer: Grocer,  # noqa: F811
    clock: VirtualClock,
) -> None:
    template: EmailTemplate = grocer.templates[0]
    template.body_mjml = (
        "<mjml><mj-body><mj-section><mj-column>"
        "{% set name %}{{ customer.first_name }}{% endset %}"
        "<mj-text>{{ name | upper }} {{ name | length }}</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    template.save()
    message = make_message(template=template, customer=grocer.customer, now=clock.now())
    first = render_message(message=message, now=clock.now())
    again = render_message(message=message, now=clock.now())
    name = grocer.customer.first_name
    assert f"{name.upper()} {len(name)}" in again.html and again == first
    assert shapes.compiled_forms() == (0, 0)


def test_store_details_and_phrases_are_compiled_with_the_skeleton_not_filled_in(
    grocer: Grocer,  # noqa: F811
    clock: VirtualClock,
) -> None:
    grocer.store.name = "Tom & Jerry's"
    grocer.store.save()
    message = make_message(template=grocer.templates[0], customer=grocer.customer, now=clock.now())
    context = build_context(message=message, now=clock.now())
    body = (
        "<mj-text>{{ store.name }} {{ phrases.follow_us }} {{ store.name | upper }}"
        " {{ customer.first_name }}</mj-text>"
    )
    template = _HTML_ENV.from_string(body)
    skeleton, values = shapes.render_skeleton(lambda: template.render(context))
    assert skeleton.startswith(
        f"<mj-text>{escape(grocer.store.name)} {context['phrases']['follow_us']} "
    )
    # What is made from a constant is a plain value like any other.
    assert values == ["TOM & JERRY'S", grocer.customer.first_name]
    assert template.render(context) == _fill_skeleton(skeleton, values)


def test_values_in_autoescape_blocks_are_escaped_as_jinja_would() -> None:
    # Also where autoescape is decided at run time: Jinja writes its own code there.
    body = (
        "<mj-text>{{ name }}{% autoescape false %} {{ name }}{% endautoescape %}"
        "{% autoescape flag %}{{ name }}{% endautoescape %}</mj-text>"
    )
    template = _HTML_ENV.from_string(body)
    for flag, written in [(True, "&lt;b&gt;"), (False, "<b>")]:
        context = {"name": "<b>", "flag": flag}
        assert template.render(context) == f"<mj-text>&lt;b&gt; <b>{written}</mj-text>"
        skeleton, values = shapes.render_skeleton(functools.partial(template.render, context))
        assert values == ["<b>", "<b>", "<b>"]
        assert skeleton == "<mj-text>\ue0000\ue001 \ue0001\ue001\ue0002\ue001</mj-text>"


def _fill_skeleton(skeleton: str, values: list[str]) -> str:
    return re.sub("\ue000(\\d+)\ue001", lambda m: str(escape(values[int(m.group(1))])), skeleton)


@compiled_only
def test_the_compiled_text_part_is_the_tidy_text_whatever_the_values_and_links(
    grocer: Grocer,  # noqa: F811
    clock: VirtualClock,
) -> None:
    template: EmailTemplate = grocer.templates[0]
    template.body_mjml = (
        "<mjml><mj-head><mj-attributes><mj-all font-family='Helvetica' /></mj-attributes>"
        "</mj-head><mj-body><mj-section><mj-column><mj-text>"
        "Hi {{ customer.first_name }},<br/>"
        '<a href="mailto:{{ customer.email }}">mailto:{{ customer.email }}</a> '
        '<a href="{{ customer.last_name }}">{{ customer.last_name }}</a>'
        '<p><a href="https://shop.example.com/x">   </a></p>'
        '<a href="https://shop.example.com/"> Shop <b>{{ customer.first_name }}</b>   now</a>'
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    template.save()
    customer = grocer.customer
    # The last name is a link's text and URL: a shop link shows its (tagged) URL, a
    # mailto: link of the same text does not, nor does a relative one.
    names = [
        ("Ann", "https://shop.example.com/a"),
        ("Zoë  Marie", "mailto:zoe@example.com"),
        ("A\u2003B", "x  y"),
        ("Ann", ""),
    ]
    for first_name, last_name in names:
        customer.first_name, customer.last_name = first_name, last_name
        customer.save()
        message = make_message(template=template, customer=customer, now=clock.now())
        tracked = render_message(message=message, now=clock.now())
        # An untracked render is always finished the slow way; its text is the same.
        slow = render_message(message=message, now=clock.now(), track=False)
        assert tracked.text == slow.text, (first_name, last_name)
    assert shapes.compiled_forms() == (2, 0)  # with and without a last name


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.text(alphabet=st.sampled_from("ab ^\\\t\n\xa0\u2003\x85\x7f\ue000é€"), min_size=1),
        min_size=1,
        max_size=6,
    )
)
def test_a_whole_email_is_called_plain_only_when_each_value_is(values: list[str]) -> None:
    if shapes._all_plain(values):
        assert all(shapes._is_plain(value) for value in values)


def test_the_values_of_a_typical_email_are_all_plain_at_once() -> None:
    values = ["Ada", "$12.49", "THANKS-000042", "https://shop.example.com/p/2", "15% off"]
    assert shapes._all_plain(values)
    assert not shapes._all_plain([*values, " padded"])
