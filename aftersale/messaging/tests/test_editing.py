"""Saving a merchant's template: checked at save with the limits of every send, in every
language, and stored only when each renders."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.rendering.editing import (
    TemplateRejected,
    TemplateText,
    draft_template,
    save_template,
    template_problems,
)
from aftersale.messaging.tests.factories import make_scenario
from aftersale.stores.models import Store

BODY = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ customer.first_name }}"
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)
RUNAWAY = "{% for a in 'a' * 100000 %}{% for b in 'b' * 100000 %}{% endfor %}{% endfor %}"


def _text(body: str = BODY, **changes: object) -> TemplateText:
    fields: dict[str, object] = {
        "name": "Thanks",
        "kind": "thank_you",
        "subject": "Thanks, {{ customer.first_name }}",
        "body_mjml": body,
    }
    return TemplateText(**(fields | changes))  # type: ignore[arg-type]


def test_a_template_that_renders_is_saved_and_versioned_by_the_save(
    store: Store, clock: VirtualClock
) -> None:
    make_scenario(store, now=clock.now())
    saved = save_template(store=store, slug="thanks", text=_text(), now=clock.now())
    clock.advance(dt.timedelta(minutes=5))
    again = save_template(store=store, slug="thanks", text=_text(subject="Hi"), now=clock.now())

    assert again.pk == saved.pk
    assert EmailTemplate.objects.get(pk=saved.pk).subject == "Hi"
    assert EmailTemplate.objects.get(pk=saved.pk).updated_at == clock.now()


def test_a_runaway_template_is_refused_at_save_with_the_limit_and_nothing_is_stored(
    store: Store, clock: VirtualClock
) -> None:
    make_scenario(store, now=clock.now())
    with pytest.raises(TemplateRejected, match="exceeded its limits: over 2,000,000 loop"):
        save_template(store=store, slug="thanks", text=_text(RUNAWAY + BODY), now=clock.now())

    assert not EmailTemplate.objects.filter(store=store, slug="thanks").exists()


def test_a_refused_edit_keeps_the_template_as_it_was(store: Store, clock: VirtualClock) -> None:
    make_scenario(store, now=clock.now())
    save_template(store=store, slug="thanks", text=_text(), now=clock.now())
    clock.advance(dt.timedelta(minutes=5))
    with pytest.raises(TemplateRejected, match="syntax error"):
        save_template(store=store, slug="thanks", text=_text("{% if %}"), now=clock.now())

    kept = EmailTemplate.objects.get(store=store, slug="thanks")
    assert kept.body_mjml == BODY
    assert kept.updated_at < clock.now()


def test_every_translation_is_checked_and_named_when_it_fails(
    store: Store, clock: VirtualClock
) -> None:
    make_scenario(store, now=clock.now())
    translations = {
        "de": {"subject": "Danke", "preheader": "", "body_mjml": BODY},
        "fr": {"subject": "{{ 'x' * 10**8 }}", "preheader": "", "body_mjml": BODY},
    }
    with pytest.raises(TemplateRejected) as refused:
        save_template(
            store=store, slug="thanks", text=_text(translations=translations), now=clock.now()
        )

    assert [problem.split(":")[0] for problem in refused.value.problems] == ["fr"]


def test_a_store_without_customers_checks_its_templates_for_a_sample_customer(
    store: Store, clock: VirtualClock
) -> None:
    template = EmailTemplate(store=store, slug="t", updated_at=clock.now(), **vars(_text()))

    assert template_problems(template=template, now=clock.now()) == []
    template.body_mjml = RUNAWAY + BODY
    assert template_problems(template=template, now=clock.now())


def test_an_unknown_kind_is_refused(store: Store, clock: VirtualClock) -> None:
    with pytest.raises(TemplateRejected, match="kind: 'poem'"):
        save_template(store=store, slug="t", text=_text(kind="poem"), now=clock.now())


def test_the_templates_command_saves_a_template_that_renders_and_refuses_one_that_runs_away(
    store: Store, clock: VirtualClock, tmp_path: Path
) -> None:
    make_scenario(store, now=clock.now())
    body = tmp_path / "thanks.mjml.j2"
    body.write_text(BODY, encoding="utf-8")
    out = StringIO()
    new = ["--subject", "Thanks", "--name", "Thanks", "--kind", "thank_you"]
    call_command("templates", "save", "thanks", "--body", str(body), *new, stdout=out)
    assert "Template thanks saved" in out.getvalue()

    body.write_text(RUNAWAY + BODY, encoding="utf-8")
    with pytest.raises(CommandError, match=r"thanks not saved:\nen: .*over 2,000,000 loop"):
        call_command("templates", "save", "thanks", "--body", str(body))
    assert EmailTemplate.objects.get(store=store, slug="thanks").body_mjml == BODY
    call_command("templates", "check", "thanks", stdout=out)
    assert "Template thanks renders in every language" in out.getvalue()


def test_a_new_template_needs_its_subject_name_and_kind(
    store: Store, clock: VirtualClock, tmp_path: Path
) -> None:
    body = tmp_path / "t.mjml.j2"
    body.write_text(BODY, encoding="utf-8")
    with pytest.raises(CommandError, match="a new template needs --subject, --name, --kind"):
        call_command("templates", "save", "t", "--body", str(body))


def test_a_refusal_names_the_language_part_line_and_the_lines_text(
    store: Store, clock: VirtualClock
) -> None:
    make_scenario(store, now=clock.now())
    body = BODY.replace("<mj-text>", "\n<mj-text>\n{{ customer.first_name }\n", 1)
    german = {"subject": "Danke {{ oops(", "preheader": "", "body_mjml": BODY}

    with pytest.raises(TemplateRejected) as refused:
        save_template(
            store=store,
            slug="thanks",
            text=_text(body, translations={"de": german}),
            now=clock.now(),
        )

    own, translation = refused.value.details
    assert (own.locale, own.part, own.line) == ("en", "body", 3)
    assert own.line_text == "{{ customer.first_name }"
    assert (translation.locale, translation.part, translation.line) == ("de", "subject", 1)
    assert translation.line_text == "Danke {{ oops("
    assert refused.value.problems[1].startswith("de: template 'thanks' line 1: syntax error")


def test_a_failing_render_names_the_part_it_failed_in(store: Store, clock: VirtualClock) -> None:
    make_scenario(store, now=clock.now())

    with pytest.raises(TemplateRejected) as refused:
        save_template(
            store=store,
            slug="thanks",
            text=_text(preheader="{{ no_such_value }}"),
            now=clock.now(),
        )

    (problem,) = refused.value.details
    assert (problem.part, problem.line) == ("preheader", 1)
    assert "undefined value" in problem.message


def test_text_no_column_can_keep_is_refused_before_it_is_stored(
    store: Store, clock: VirtualClock
) -> None:
    make_scenario(store, now=clock.now())

    with pytest.raises(TemplateRejected, match="NUL character") as refused:
        save_template(store=store, slug="thanks", text=_text(subject="Hi\x00"), now=clock.now())

    assert [p.part for p in refused.value.details] == ["subject"]
    assert not EmailTemplate.objects.filter(slug="thanks").exists()


def test_a_draft_holds_the_text_typed_and_is_never_saved(store: Store, clock: VirtualClock) -> None:
    draft = draft_template(store=store, slug="thanks", text=_text(), now=clock.now())

    assert draft.pk is None and draft.subject == "Thanks, {{ customer.first_name }}"
    assert not EmailTemplate.objects.exists()
