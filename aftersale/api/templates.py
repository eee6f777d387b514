"""The store's email templates: list, read, revise (saved only once every language renders
under the limits of a send, as the dashboard's editor and `aftersale templates save` do),
and a preview for one of the store's customers."""

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from ninja import Schema
from ninja.errors import ValidationError
from pydantic import AfterValidator, Field

from aftersale.api.auth import request_store
from aftersale.api.errors import ApiError, found, without_nul
from aftersale.api.read_schemas import READ_ERRORS
from aftersale.api.routes import router
from aftersale.customers.selectors import customer_by_external_id
from aftersale.lib import clock
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.outbox.selectors import store_templates, template_by_slug
from aftersale.messaging.rendering.editing import TemplateRejected, TemplateText, save_template
from aftersale.messaging.rendering.previews import preview_template
from aftersale.messaging.rendering.render import TemplateError

TAGS = ["templates"]
_SLUG = ["path", "slug"]
# Where each part's source is in a request body.
_FIELDS = {"subject": "subject", "preheader": "preheader", "body": "body_mjml"}


def _storable(value: str) -> str:
    # PostgreSQL keeps no NUL in text, and a lone surrogate is no UTF-8.
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain a NUL character or a lone surrogate")
    return value


# A request body stays under Django's 2.5 MB limit even with every character written as a
# JSON escaped surrogate pair (12 bytes); the rendering limit is MAX_SOURCE_CHARS.
MAX_BODY_CHARS = 100_000
MAX_LINE_CHARS = 2_000
Body = Annotated[str, Field(max_length=MAX_BODY_CHARS), AfterValidator(_storable)]
Line = Annotated[str, Field(max_length=MAX_LINE_CHARS), AfterValidator(_storable)]
Locale = Annotated[
    str, Field(min_length=2, max_length=20, pattern=r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})*$")
]


class TemplateTextIn(Schema):
    subject: Line = Field(min_length=1)
    preheader: Line = ""
    body_mjml: Body = Field(min_length=1)


class TemplateIn(TemplateTextIn):
    """A template's new text; `name` and `translations` stay as stored when left out."""

    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable)] | None = (
        None
    )
    translations: dict[Locale, TemplateTextIn] | None = Field(
        None, max_length=10, description="every translation, by locale (replaces the stored)"
    )


class TemplateSummaryOut(Schema):
    slug: str
    name: str
    kind: str
    locale: str = Field(description="the language of its own text")
    languages: list[str] = Field(description="its own locale, then its translations'")
    subject: str
    updated_at: dt.datetime


class TemplateTextOut(Schema):
    subject: str
    preheader: str
    body_mjml: str


class TemplateOut(TemplateSummaryOut):
    preheader: str
    body_mjml: str
    translations: dict[str, TemplateTextOut]


class PreviewIn(Schema):
    customer_id: str = Field(min_length=1, max_length=100, description="the store's customer id")
    locale: Locale | None = Field(None, description="default: the customer's, else the store's")


class PreviewOut(Schema):
    subject: str
    preheader: str
    html: str
    text: str


def _summary(template: EmailTemplate) -> dict[str, object]:
    translations = template.translations if isinstance(template.translations, dict) else {}
    return {
        "slug": template.slug,
        "name": template.name,
        "kind": template.kind,
        "locale": template.locale,
        "languages": [template.locale, *sorted(translations)],
        "subject": template.subject,
        "updated_at": template.updated_at,
    }


def _out(template: EmailTemplate) -> dict[str, object]:
    return {
        **_summary(template),
        "preheader": template.preheader,
        "body_mjml": template.body_mjml,
        "translations": template.translations or {},
    }


def _template(request: HttpRequest, slug: str) -> EmailTemplate:
    template = template_by_slug(store=request_store(request), slug=without_nul(slug, loc=_SLUG))
    return found(template, loc=_SLUG, what="such template")


def _refused(template: EmailTemplate, refused: TemplateRejected) -> ValidationError:
    """Each language that does not render as a 422 naming the field of the part at
    fault, with its language and line."""
    errors = []
    for problem in refused.details:
        field = _FIELDS.get(problem.part, problem.part or "kind")
        own = problem.locale == template.locale
        loc = ["body", field] if own else ["body", "translations", problem.locale, field]
        errors.append(
            {
                "type": "template_error",
                "loc": loc,
                "msg": str(problem),
                "ctx": {"locale": problem.locale, "line": problem.line, "text": problem.line_text},
            }
        )
    return ValidationError(errors)


@router.get("/templates", response={200: list[TemplateSummaryOut], **READ_ERRORS}, tags=TAGS)
def list_templates(request: HttpRequest) -> list[dict[str, object]]:
    """The store's templates by slug, each with its languages and subject source."""
    return [_summary(template) for template in store_templates(store=request_store(request))]


@router.get("/templates/{slug}", response={200: TemplateOut, **READ_ERRORS}, tags=TAGS)
def get_template(request: HttpRequest, slug: str) -> dict[str, object]:
    """One template with the source of every part, in its own language and each
    translation."""
    return _out(_template(request, slug))


@router.put("/templates/{slug}", response={200: TemplateOut, **READ_ERRORS}, tags=TAGS)
def put_template(request: HttpRequest, slug: str, text: TemplateIn) -> dict[str, object]:
    """Replace the template's text. It is rendered first in every language for a
    customer of the store under the limits of a send, and stored only when each renders:
    otherwise 422, naming each language's field and line that fails, nothing stored."""
    stored = _template(request, slug)
    translations = (
        {locale: variant.model_dump() for locale, variant in text.translations.items()}
        if text.translations is not None
        else stored.translations
    )
    new = TemplateText(
        name=text.name or stored.name,
        kind=stored.kind,
        subject=text.subject,
        preheader=text.preheader,
        body_mjml=text.body_mjml,
        locale=stored.locale,
        translations=translations,
    )
    try:
        saved = save_template(store=stored.store, slug=slug, text=new, now=clock.now())
    except TemplateRejected as refused:
        raise _refused(stored, refused) from refused
    return _out(saved)


@router.post("/templates/{slug}/preview", response={200: PreviewOut, **READ_ERRORS}, tags=TAGS)
def preview(request: HttpRequest, slug: str, wanted: PreviewIn) -> dict[str, str]:
    """The template rendered for one of the store's customers, as a send would render it
    but without tracking anything: subject, preheader, HTML and plain text. A template
    that cannot render answers 422 with its part and line."""
    template = _template(request, slug)
    customer_id = without_nul(wanted.customer_id, loc=["body", "customer_id"])
    customer = customer_by_external_id(store=template.store, external_id=customer_id)
    customer = found(customer, loc=["body", "customer_id"], what="such customer")
    try:
        email = preview_template(
            template=template, customer=customer, now=clock.now(), locale=wanted.locale or ""
        )
    except TemplateError as error:
        field = _FIELDS.get(error.part, "body_mjml")
        raise ApiError(422, [*_SLUG, field], str(error), "template_error") from error
    return {
        "subject": email.subject,
        "preheader": email.preheader,
        "html": email.html,
        "text": email.text,
    }
