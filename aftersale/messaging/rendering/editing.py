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


class TemplateRejected(ValueError):
    """The template was not saved; `problems` says, per language, why it cannot render."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
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
    customer = _checking_customer(template.store)
    problems = []
    for locale in [template.locale, *sorted(template.translations or {})]:
        try:
            preview_template(template=template, customer=customer, now=now, locale=locale)
        except TemplateError as error:
            problems.append(f"{locale}: {error}")
    return problems


def save_template(
    *, store: Store, slug: str, text: TemplateText, now: dt.datetime
) -> EmailTemplate:
    """Store `text` as `store`'s template `slug` (created, or replacing what it held,
    versioned by `now`). Raises TemplateRejected, storing nothing, when a language does
    not render (see `template_problems`) or the kind is unknown."""
    if text.kind not in TemplateKind.values:
        raise TemplateRejected([f"kind: {text.kind!r} is not one of {', '.join(TemplateKind)}"])
    template = EmailTemplate.objects.filter(store=store, slug=slug).first() or EmailTemplate(
        store=store, slug=slug
    )
    for name, value in vars(text).items():
        setattr(template, name, value)
    template.updated_at = now
    problems = template_problems(template=template, now=now)
    if problems:
        raise TemplateRejected(problems)
    template.save()
    return template


def _checking_customer(store: Store) -> Customer:
    return Customer.objects.filter(store=store).order_by("id").first() or Customer(
        store=store, email=_SAMPLE_EMAIL, first_name=_SAMPLE_FIRST_NAME
    )
