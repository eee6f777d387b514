"""mrml's Rust escapes (escape_debug) are taken out of attribute values, on the slow path
and on the path that finishes emails from their shape's compiled form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.rendering.compiled import shapes
from aftersale.messaging.rendering.mjml import decode_attribute_escapes, mjml_to_html
from aftersale.messaging.rendering.render import render_message
from aftersale.messaging.tests.factories import Scenario, make_scenario
from aftersale.messaging.tests.markers import compiled_only
from aftersale.stores.models import Store

NAME = "Crème\xa0brûlée \\ jar\t2"


@pytest.fixture(autouse=True)
def no_shapes_yet() -> Iterator[None]:
    shapes.forget_shapes()
    yield
    shapes.forget_shapes()


def test_attributes_mrml_escapes_are_decoded_and_others_left_as_written() -> None:
    page = mjml_to_html(
        "<mjml><mj-body><mj-section><mj-column>"
        f'<mj-image src="https://cdn.example.com/a\xa0b.jpg" alt="{NAME}" css-class="x\\w" />'
        f'<mj-text><a href="https://shop.example.com/p?q=a\xa0b" title="{NAME}">x</a></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    assert "\\u{" not in page and "\\\\" not in page and "\\t" not in page
    assert f'alt="{NAME}"' in page and f'title="{NAME}"' in page
    assert 'href="https://shop.example.com/p?q=a\xa0b"' in page
    assert 'class="x\\w"' in page  # written as it is: not an escape


@pytest.mark.parametrize(
    ("escaped", "decoded"),
    [
        ('<a title="a\\u{a0}b\\\\c\\td">', '<a title="a\xa0b\\c\td">'),
        ('<a title="\\u{22}">', '<a title="&quot;">'),
        ('<a class="a\\b">', '<a class="a\\b">'),  # \b is no escape mrml writes
        ('<a title="\\u{110000}">', '<a title="\\u{110000}">'),
    ],
)
def test_only_values_made_of_rust_escapes_are_decoded(escaped: str, decoded: str) -> None:
    assert decode_attribute_escapes(escaped) == decoded


@compiled_only
def test_a_no_break_space_in_a_product_name_is_never_written_as_a_rust_escape(
    store: Store, clock: VirtualClock
) -> None:
    scenario: Scenario = make_scenario(store, now=clock.now())
    for product in scenario.picks:
        product.name = NAME
        product.save()
    emails = [
        render_message(message=scenario.message("cross-sell", now=clock.now()), now=clock.now())
        for _ in range(3)  # the first the slow way, the others from the compiled form
    ]
    preview = render_message(
        message=scenario.message("cross-sell", now=clock.now()), now=clock.now(), track=False
    )
    assert shapes.compiled_forms()[0] > 0
    for email in [*emails, preview]:
        assert "\\u{" not in email.html and "\\\\" not in email.html
        assert 'alt="Crème&nbsp;brûlée \\ jar\t2"' in email.html
