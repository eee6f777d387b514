"""The limits of one render of merchant code: every runaway template is refused with
its name and the limit it hit, fast, both the plain way and the compiled way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.test import override_settings

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.rendering import limits
from aftersale.messaging.rendering.context import build_context
from aftersale.messaging.rendering.render import (
    RenderedEmail,
    TemplateLimitExceeded,
    render_template,
)
from aftersale.messaging.tests.factories import Scenario, make_scenario
from aftersale.stores.models import Store

VALUE = "a value over 1,000,000 characters or items"
BIG = "{% set big = 'x' * 900000 %}"


@pytest.fixture
def scenario(store: Store, clock: VirtualClock) -> Scenario:
    return make_scenario(store, now=clock.now())


@pytest.fixture(params=[False, True], ids=["plain", "compiled"])
def both_ways(request: pytest.FixtureRequest) -> Iterator[None]:
    with override_settings(COMPILED_EMAILS=request.param):
        yield


def _render(
    scenario: Scenario, clock: VirtualClock, body: str, *, subject: str = "Hi"
) -> RenderedEmail:
    message = scenario.message("thank-you", now=clock.now())
    template = EmailTemplate(
        store=scenario.store,
        slug="cross-sell",
        name="Cross-sell",
        kind="thank_you",
        subject=subject,
        body_mjml=body,
        updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    context = build_context(message=message, now=clock.now())
    return render_template(template=template, context=context, campaign="t", message_id=message.pk)


ATTACKS = {
    "nested_loops_over_huge_strings": (
        "{% for a in 'a'*100000 %}{% for b in 'b'*100000 %}{% endfor %}{% endfor %}",
        "over 2,000,000 loop iterations and calls",
    ),
    "chained_powers": ("{{ 2**99**99**99**99 }}", "a number over 10,000 bits"),
    "huge_string_formatting": ("{{ '%100000000s' % 'a' }}", VALUE),
    "centering_to_a_huge_width": ("{{ 'x' | center(10**8) }}", VALUE),
    "centering_to_a_huge_literal_width": ("{{ 'x' | center(100000000) }}", VALUE),
    "doubling_with_tilde_in_a_loop": (
        "{% set s = namespace(v='x') %}{% for i in range(40) %}"
        "{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v | length }}",
        VALUE,
    ),
    "doubling_with_plus_in_a_loop": (
        "{% set s = namespace(v='x') %}{% for i in range(40) %}"
        "{% set s.v = s.v + s.v %}{% endfor %}{{ s.v | length }}",
        VALUE,
    ),
    "many_lipsum_paragraphs": ("{{ lipsum(20000) | length }}", VALUE),
    "products_of_ranges": (
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "range() calls over 20,000 items in all",
    ),
    "a_huge_range": ("{% for i in range(100000) %}x{% endfor %}", "range() of 100,000 items"),
    "repeating_a_string": ("{{ ('a' * 10**8) | length }}", VALUE),
    "repeating_a_list": ("{{ ([0] * 10**8) | length }}", VALUE),
    "joining_a_big_list": (BIG + "{{ [big, big, big] | join | length }}", VALUE),
    "joining_with_a_big_separator": (BIG + "{{ range(10) | join(big) | length }}", VALUE),
    "indenting_by_a_huge_width": ("{{ 'x\ny' | indent(10**8) | length }}", VALUE),
    "the_format_filter": ("{{ '%*s' | format(100000000, 'a') | length }}", VALUE),
    "str_format": ("{{ '{:>100000000}'.format(1) }}", VALUE),
    "wordwrap_with_a_big_wrapstring": (
        BIG + "{{ 'a b c d' | wordwrap(1, wrapstring=big) | length }}",
        VALUE,
    ),
    "string_methods": ("{{ 'x'.ljust(10**8) }}", VALUE),
    "growing_a_list": (
        "{% set l = [1] %}{% for i in range(30) %}{{ l.extend(l) }}{% endfor %}",
        VALUE,
    ),
    "writing_out_a_big_list": (BIG + "{{ [big, big] }}", VALUE),
    "replacing_with_a_big_string": (BIG + "{{ 'aaaa' | replace('a', big) }}", VALUE),
    "output_over_the_limit": (
        "{% for i in range(200) %}{{ 'x' * 99999 }}{% endfor %}",
        "output over 2,000,000 characters",
    ),
}


@pytest.mark.parametrize(("body", "limit"), ATTACKS.values(), ids=ATTACKS.keys())
def test_runaway_templates_are_stopped_with_the_template_name_and_the_limit(
    scenario: Scenario, clock: VirtualClock, both_ways: None, body: str, limit: str
) -> None:
    with pytest.raises(TemplateLimitExceeded) as refused:
        _render(scenario, clock, body)
    assert str(refused.value).startswith("template 'cross-sell'")
    assert f"exceeded its limits: {limit}" in str(refused.value)


def test_nested_loops_over_huge_strings_are_stopped_with_the_template_name(
    scenario: Scenario, clock: VirtualClock, both_ways: None
) -> None:
    body, _ = ATTACKS["nested_loops_over_huge_strings"]
    with pytest.raises(TemplateLimitExceeded, match="template 'cross-sell' line 1: exceeded"):
        _render(scenario, clock, f"<mjml><mj-body>{body}</mj-body></mjml>")


def test_a_recursive_loop_called_again_with_many_items_is_counted(
    scenario: Scenario, clock: VirtualClock, both_ways: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_OPERATIONS", 10_000)  # to be quick
    body = (
        "{% for a in 'x' recursive %}{% if loop.depth < 5 %}{{ loop('y' * 1000) }}"
        "{% endif %}{% endfor %}"
    )
    with pytest.raises(TemplateLimitExceeded, match="over 10,000 loop iterations"):
        _render(scenario, clock, body)


def test_a_template_that_runs_too_long_is_stopped_by_the_deadline(
    scenario: Scenario, clock: VirtualClock, both_ways: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_SECONDS", 0.0)  # the deadline is already past
    with pytest.raises(TemplateLimitExceeded, match="took over 0 s"):
        _render(scenario, clock, "{% for p in recommendations %}{{ p.name }}{% endfor %}")


def test_a_too_long_template_text_is_refused(
    scenario: Scenario, clock: VirtualClock, both_ways: None
) -> None:
    with pytest.raises(TemplateLimitExceeded, match="its text is over 256,000 characters"):
        _render(scenario, clock, "x" * 300_000)


def test_the_subject_is_bounded_too(
    scenario: Scenario, clock: VirtualClock, both_ways: None
) -> None:
    with pytest.raises(TemplateLimitExceeded, match=VALUE):
        _render(scenario, clock, "<mjml></mjml>", subject="{{ 'x' | center(10**8) }}")


def test_loops_concatenation_and_formatting_within_the_limits_render_as_before(
    scenario: Scenario, clock: VirtualClock, both_ways: None
) -> None:
    body = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        "{% for p in recommendations %}{{ loop.index ~ '. ' ~ p.name }}"
        "{% if not loop.last %}, {% endif %}{% endfor %}|{{ '%05.1f' % 3.14159 }}|"
        "{{ '{:>6}'.format('ab') }}|{{ 'x' | center(5) }}|{{ [1, 2] | join('-') }}|"
        "{{ 2 ** 10 }}|{{ 'ab' * 3 }}|{{ 'a' ~ 1 ~ none }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    email = _render(scenario, clock, body)
    names = [p.name for p in scenario.picks]
    expected = f"1. {names[0]}, 2. {names[1]}|003.1| ab| x |1-2|1024|ababab|a1None"
    assert expected in email.text  # the text part collapses runs of spaces
    assert "|    ab|  x  |" in email.html
