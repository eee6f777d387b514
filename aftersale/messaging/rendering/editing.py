"""Saving a merchant's own template: it is rendered first, in every language it has, for
a customer of the store under the limits every send has (limits.py), and stored only when
each rendering works, so an editor learns at save what a send would have found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from aftersale.customers.models import Customer
from aftersale.messaging.models import EmailTemplate, TemplateKind
from aftersale.messaging.rendering.previews import preview_template
from aftersale.messaging.rendering.render import TemplateError
from aftersale.stores.models import Store

# Who a store without customers yet is checked for: never saved, never sent to.
_SAMPLE_EMAIL = "preview@example.com"
_SAMPLE_FIRST_NAME = "Alex"
# A part of a template, as TemplateError names it, and the field holding its source.
_PARTS = {"subject": "subject", "preheader": "preheader", "body": "body_mjml"}


@dataclass(frozen=True)
class TemplateProblem:
    """Why one language of a template does not render: its locale, the part at fault
    ("subject", "preheader", "body", or "" when it is not one part: an unknown kind), the
    line of that part when known with the text of that line, and what is wrong."""

    locale: str
    part: str
    line: int | None
    line_text: str
    message: str

    def __str__(self) -> str:
        where = f" {self.part}" if self.part else ""
        where += f" line {self.line}" if self.line else ""
        return f"{self.locale}{where}: {self.message}"


class TemplateRejected(ValueError):
    """The template was not saved; `problems` says, per language, why it cannot render,
    and `details` says the same as TemplateProblem values (part, line and its text)."""

    def __init__(self, problems: list[str], details: list[TemplateProblem] | None = None) -> None:
        self.problems = problems
        self.details = details if details is not None else []
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class TemplateText:
    """What a merchant writes: the text in its own language and its translations, each a
    dict of "subject", "preheader" and "body_mjml"."""

    name: str
    kind: str
    subject: str
    body_mjml: str
    preheader: str = ""
    locale: str = "en"
    translations: dict[str, dict[str, str]] = field(default_factory=dict)


def template_problems(*, template: EmailTemplate, now: dt.datetime) -> list[str]:
    """Why `template` (saved or not) cannot be sent, one line per language that fails to
    render for a customer of its store (a sample one when the store has none) under the
    render limits; empty when every language renders."""
    return [f"{problem.locale}: {error}" for problem, error in _failures(template, now=now)]


def template_problem_details(*, template: EmailTemplate, now: dt.datetime) -> list[TemplateProblem]:
    """What `template_problems` says, as one TemplateProblem per failing language: the
    part and line at fault and that line's text, for an editor to show next to it."""
    return [problem for problem, _ in _failures(template, now=now)]


def problem_of(*, error: TemplateError, template: EmailTemplate, locale: str) -> TemplateProblem:
    """`error`, raised rendering `template`'s variant `locale` ("" for its own text), as a
    TemplateProblem in that language: with the text of the line it names, read from the
    part it names in that variant's source."""
    return TemplateProblem(
        locale=locale or template.locale,
        part=error.part,
        line=error.line,
        line_text=_line_text(template, part=error.part, locale=locale, line=error.line),
        message=error.problem,
    )


def _failures(
    template: EmailTemplate, *, now: dt.datetime
) -> list[tuple[TemplateProblem, TemplateError]]:
    customer = _checking_customer(template.store)
    failures = []
    for locale in [template.locale, *sorted(template.translations or {})]:
        variant = "" if locale == template.locale else locale
        try:
            preview_template(template=template, customer=customer, now=now, locale=locale)
        except TemplateError as error:
            failures.append((problem_of(error=error, template=template, locale=variant), error))
    return failures


def _line_text(template: EmailTemplate, *, part: str, locale: str, line: int | None) -> str:
    if not line or part not in _PARTS:
        return ""
    if locale:
        source = (template.translations or {}).get(locale, {}).get(_PARTS[part], "")
    else:
        source = getattr(template, _PARTS[part])
    lines = str(source).splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def draft_template(
    *, store: Store, slug: str, text: TemplateText, now: dt.datetime
) -> EmailTemplate:
    """An unsaved template of `store` holding `text` as `slug` (for a preview of what an
    editor typed, or a test email of it): nothing is written."""
    template = EmailTemplate(store=store, slug=slug, updated_at=now)
    for name, value in vars(text).items():
        setattr(template, name, value)
    return template


def save_template(
    *, store: Store, slug: str, text: TemplateText, now: dt.datetime
) -> EmailTemplate:
    """Store `text` as `store`'s template `slug` (created, or replacing what it held,
    versioned by `now`). Raises TemplateRejected, storing nothing, when a language does
    not render (see `template_problems`) or the kind is unknown."""
    if text.kind not in TemplateKind.values:
        raise TemplateRejected([f"kind: {text.kind!r} is not one of {', '.join(TemplateKind)}"])
    unstorable = _unstorable(text)
    if unstorable:
        raise TemplateRejected([str(p) for p in unstorable], unstorable)
    template = EmailTemplate.objects.filter(store=store, slug=slug).first() or EmailTemplate(
        store=store, slug=slug
    )
    for name, value in vars(text).items():
        setattr(template, name, value)
    template.updated_at = now
    failures = _failures(template, now=now)
    if failures:
        raise TemplateRejected(
            [f"{problem.locale}: {error}" for problem, error in failures],
            [problem for problem, _ in failures],
        )
    template.save()
    return template


def _unstorable(text: TemplateText) -> list[TemplateProblem]:
    """The parts of `text` no database column can keep: a NUL character (PostgreSQL
    refuses it in text) or a lone surrogate (not UTF-8)."""
    variants = [
        ("", {"subject": text.subject, "preheader": text.preheader, "body_mjml": text.body_mjml})
    ]
    variants += sorted((text.translations or {}).items())
    problems = []
    if "\x00" in text.name or _has_surrogate(text.name):
        problems.append(TemplateProblem(text.locale, "name", None, "", _UNSTORABLE))
    for locale, fields in variants:
        for part, column in _PARTS.items():
            value = fields.get(column, "")
            if not isinstance(value, str):
                continue
            if "\x00" in value or _has_surrogate(value):
                problems.append(
                    TemplateProblem(
                        locale=locale or text.locale,
                        part=part,
                        line=None,
                        line_text="",
                        message=_UNSTORABLE,
                    )
                )
    return problems


_UNSTORABLE = "contains a NUL character or a lone surrogate, which no email can carry"


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in value)


def _checking_customer(store: Store) -> Customer:
    return Customer.objects.filter(store=store).order_by("id").first() or Customer(
        store=store, email=_SAMPLE_EMAIL, first_name=_SAMPLE_FIRST_NAME
    )
