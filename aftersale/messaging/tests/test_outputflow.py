"""The static proof that a template's captured output only reaches the email, which lets
a tracked email render once (as a skeleton) instead of twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.rendering.compiled import shapes
from aftersale.messaging.rendering.compiled.outputflow import only_written_out
from aftersale.messaging.rendering.render import _HTML_ENV, render_message, template_source
from aftersale.messaging.tests.factories import make_message
from aftersale.messaging.tests.markers import compiled_only
from aftersale.messaging.tests.test_library import Grocer, grocer  # noqa: F401  (fixture)

MACRO = "{% macro note() %}<b>{{ customer.last_name }}</b>{% endmacro %}"


@pytest.fixture(autouse=True)
def no_shapes_yet() -> Iterator[None]:
    shapes.forget_shapes()
    yield
    shapes.forget_shapes()


def _proved(source: str) -> bool:
    return only_written_out(source=source, environment=_HTML_ENV)


def test_every_library_template_in_every_language_is_proved(
    grocer: Grocer,  # noqa: F811
) -> None:
    for template in grocer.templates:
        for locale in ["", *template.translations]:
            source = template_source(template=template, part="body", locale=locale)
            assert _proved(source), (template.slug, locale)


@pytest.mark.parametrize(
    "source",
    [
        MACRO + "{{ note() }}{% if note() %}x{% endif %}{{ note() if note() is not none }}",
        "{% set s %}{{ a }}{% endset %}{% if not s and b %}{{ s }}{% endif %}",
        MACRO + "{% macro card(n) %}{% if n %}{{ n }}{% endif %}{% endmacro %}{{ card(note()) }}",
        '{% import "components.mjml.j2" as ui %}{% call(p) ui.product_cards(ps) %}{{ p.name }}'
        "{% endcall %}",
    ],
)
def test_output_only_written_out_or_tested_for_truth_is_proved(source: str) -> None:
    assert _proved(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% set s %}{{ a }}{% endset %}{{ s | upper }}",
        "{% filter upper %}{{ a }}{% endfilter %}",
        MACRO + "{{ note() | length }}",
        MACRO + '{% if note() == "<b>x</b>" %}x{% endif %}',
        MACRO + "{{ note()[0] }}",
        MACRO + "{% set f = note %}{{ f() }}",
        MACRO + "{% set s = note() %}{{ s ~ 'x' }}",
        MACRO + "{% macro card(n) %}{{ n | length }}{% endmacro %}{{ card(note()) }}",
        MACRO + "{% for c in note() %}{{ c }}{% endfor %}",
        "{% include name %}",
        '{% include "missing.mjml.j2" %}',
        "{% if %}",
    ],
)
def test_output_filtered_compared_or_passed_around_is_not_proved(source: str) -> None:
    assert not _proved(source)


@compiled_only
@pytest.mark.parametrize("last_name", ["", "Lovelace"])
def test_a_proved_template_that_tests_its_output_for_truth_renders_like_the_real_render(
    grocer: Grocer,  # noqa: F811
    clock: VirtualClock,
    last_name: str,
) -> None:
    grocer.customer.last_name = last_name
    grocer.customer.save()
    template = grocer.templates[0]
    template.body_mjml = (
        "{% macro note() %}{{ customer.last_name }}{% endmacro %}"
        "{% macro greet(name) %}{% if name %}Dear {{ name }}{% else %}Hello{% endif %}"
        "{% endmacro %}"
        '{% extends "layout.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>{{ greet(note()) }}</mj-text></mj-column></mj-section>{% endblock %}"
    )
    template.save()
    assert _proved(template.body_mjml)
    greeting = f"Dear {last_name}" if last_name else "Hello"
    for _ in range(3):  # the first is rendered the slow way, the others from the shape
        message = make_message(template=template, customer=grocer.customer, now=clock.now())
        email = render_message(message=message, now=clock.now())
        assert greeting in email.html and greeting in email.text
    assert shapes.compiled_forms() == (1, 0)
