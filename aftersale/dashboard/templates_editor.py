"""The template editor: a store's templates by type and language, one template's subject,
preheader and body edited in a form (saved only once every language renders, as a send
would), a live preview for a real customer of the store through the renderer that sends,
and a test email of what was typed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from csp.decorators import csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersale.customers.models import Customer
from aftersale.dashboard.views import _page, _store
from aftersale.flows.models import Flow
from aftersale.flows.selectors import live_flows
from aftersale.lib import clock
from aftersale.lib.addresses import InvalidAddress, normalized_address
from aftersale.messaging.delivery.sending import send_test_email
from aftersale.messaging.delivery.transports.base import Outcome
from aftersale.messaging.models import EmailTemplate, TemplateKind
from aftersale.messaging.rendering.editing import (
    TemplateProblem,
    TemplateRejected,
    TemplateText,
    draft_template,
    problem_of,
    save_template,
)
from aftersale.messaging.rendering.previews import (
    editable_templates,
    latest_buyer,
    preview_customer,
    preview_customers,
    preview_subjects,
    preview_template,
    previewable_template,
)
from aftersale.messaging.rendering.render import RenderedEmail, TemplateError
from aftersale.stores.models import Store

# The preview shows a merchant's email as it is, inline styles and remote images included:
# it runs in a sandboxed iframe (no scripts, no same origin), and an `srcdoc` document
# keeps the policy of the page around it, so this page's policy lets those through.
PREVIEW_POLICY = {"style-src": ["'unsafe-inline'"], "img-src": ["https:", "http:"]}
PARTS = ("subject", "preheader", "body")


@dataclass(frozen=True)
class Language:
    """One language a template is written in: its locale code and whether it is the
    template's own text (else a translation)."""

    code: str
    own: bool


@login_required
@require_GET
def templates(request: HttpRequest, slug: str) -> HttpResponse:
    """The store's templates (and the library's it has not saved yet), grouped by type,
    each with its languages, subject, last change and the flows whose latest version
    sends it."""
    store = _store(request, slug)
    used_by = _flows_by_template(store)
    found = editable_templates(store=store, now=clock.now())
    customer = latest_buyer(store=store, now=clock.now())
    subjects = (
        preview_subjects(templates=found, customer=customer, now=clock.now()) if customer else {}
    )
    rows: list[dict[str, Any]] = [
        {
            "template": template,
            "languages": _languages(template),
            "flows": used_by.get(template.slug, []),
            "subject": subjects.get(template.slug, ""),
        }
        for template in found
    ]
    groups = [
        (TemplateKind(kind).label if kind in TemplateKind.values else kind, list(members))
        for kind, members in itertools.groupby(rows, key=lambda row: row["template"].kind)
    ]
    context = {"section": "templates", "store": store, "groups": groups, "customer": customer}
    return _page(request, "dashboard/templates/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@csp_update(PREVIEW_POLICY)  # type: ignore[arg-type]  # typed for views without URL arguments
def template_edit(request: HttpRequest, slug: str, template: str) -> HttpResponse:
    """GET: the editor of one template in one language (`?lang=`, default its own), with
    a preview for the store's latest buyer. POST: save what was typed; a language that
    does not render is refused with the part, line and reason next to the field, and
    everything typed is kept."""
    store = _store(request, slug)
    stored = _template(store, template)
    language = _language(stored, request.POST.get("lang") or request.GET.get("lang", ""))
    if request.method == "GET":
        return _editor(request, store, stored, language, fields=_fields(stored, language))
    fields = _posted(request.POST)
    text = _text(stored, language, fields)
    try:
        save_template(store=store, slug=stored.slug, text=text, now=clock.now())
    except TemplateRejected as refused:
        return _editor(
            request, store, stored, language, fields=fields, problems=refused.details, status=400
        )
    messages.success(request, f"Saved “{text.name}”: every language renders.")
    url = reverse("dashboard:template-edit", args=[store.slug, stored.slug])
    return redirect(url if language.own else f"{url}?lang={language.code}")


@login_required
@require_POST
def template_preview(request: HttpRequest, slug: str, template: str) -> HttpResponse:
    """The editor's form as typed, rendered for the chosen customer through the renderer
    that sends (nothing saved, nothing tracked): the inbox line and the email, or the
    problem with its line; the problem next to the field is swapped in too (htmx
    out-of-band)."""
    store = _store(request, slug)
    stored = _template(store, template)
    language = _language(stored, request.POST.get("lang", ""))
    fields = _posted(request.POST)
    draft = draft_template(
        store=store, slug=stored.slug, text=_text(stored, language, fields), now=clock.now()
    )
    context = _preview(store, draft, language, customer_id=_customer_id(request.POST))
    return render(
        request, "dashboard/templates/preview.html", {**context, "store": store, "oob": True}
    )


@login_required
@require_POST
def template_send_test(request: HttpRequest, slug: str, template: str) -> HttpResponse:
    """Send the form as typed, rendered for the chosen customer, to the address typed,
    through `send_test_email` (as `aftersale templates send-test` does), and say what
    became of it."""
    store = _store(request, slug)
    stored = _template(store, template)
    language = _language(stored, request.POST.get("lang", ""))
    draft = draft_template(
        store=store,
        slug=stored.slug,
        text=_text(stored, language, _posted(request.POST)),
        now=clock.now(),
    )
    customer = preview_customer(
        store=store, customer_id=_customer_id(request.POST), now=clock.now()
    )
    to = request.POST.get("to", "")
    result = {"to": to, **_test_email(draft, customer, to=to, language=language)}
    status = 200 if "sent" in result else 400
    if "to_error" in result:
        status = 422
    response = render(request, "dashboard/templates/send_test.html", {"store": store, **result})
    response.status_code = 200 if request.headers.get("HX-Request") else status
    return response


@login_required
@require_GET
def template_customers(request: HttpRequest, slug: str, template: str) -> HttpResponse:
    """The customers matching `?q=` (email, name or store id) as the options of the
    preview's customer picker."""
    store = _store(request, slug)
    _template(store, template)
    found = preview_customers(store=store, query=request.GET.get("q", "")[:200])
    response = render(
        request,
        "dashboard/templates/customer_options.html",
        {"customers": found, "chosen": found[0].pk if found else None},
    )
    response["HX-Trigger-After-Swap"] = (
        "customerschanged"  # the editor's form previews for the new pick
    )
    return response


def _test_email(
    draft: EmailTemplate, customer: Customer | None, *, to: str, language: Language
) -> dict[str, str]:
    """Send `draft` for `customer` to `to` as a test: what the page says of it, under
    "sent", "error" or (a refused address) "to_error"."""
    try:
        address = normalized_address(to)
    except InvalidAddress as error:
        return {"to_error": f"Not sent: {error}."}
    if customer is None:
        return {"error": "Not sent: the store has no customer to render it for yet."}
    try:
        sent = send_test_email(
            template=draft, customer=customer, to=address, now=clock.now(), locale=language.code
        )
    except TemplateError as error:
        variant = "" if language.own else language.code
        return {"error": f"Not sent: {problem_of(error=error, template=draft, locale=variant)}."}
    except ValueError as error:  # the store's transport cannot be set up (e.g. its credential)
        return {"error": f"Not sent: {error}."}
    if sent.outcome is Outcome.ACCEPTED:
        return {"sent": f"Test email sent to {address}, rendered for {customer.email}."}
    return {"error": f"Not sent ({sent.outcome}): {sent.detail}"}


def _editor(
    request: HttpRequest,
    store: Store,
    stored: EmailTemplate,
    language: Language,
    *,
    fields: dict[str, str],
    problems: list[TemplateProblem] | None = None,
    status: int = 200,
) -> HttpResponse:
    problems = problems or []
    here = [p for p in problems if p.locale == language.code and p.part in PARTS]
    customer_id = _customer_id(request.POST) if request.method == "POST" else None
    draft = draft_template(
        store=store, slug=stored.slug, text=_text(stored, language, fields), now=clock.now()
    )
    context = {
        "section": "templates",
        "store": store,
        "template": stored,
        "language": language,
        "languages": _languages(stored),
        "fields": fields,
        "other_problems": [p for p in problems if p not in here],
        **_preview(store, draft, language, customer_id=customer_id),
    }
    customers = preview_customers(store=store)
    if context["customer"] is not None and context["customer"] not in customers:
        customers.insert(0, context["customer"])
    context["customers"] = customers
    if problems:  # a refused save: its own findings, in every part they name
        context["field_problems"] = {p.part: p for p in here}
    response = _page(request, "dashboard/templates/edit.html", context)
    response.status_code = status
    return response


def _preview(
    store: Store, draft: EmailTemplate, language: Language, *, customer_id: int | None
) -> dict[str, Any]:
    """What the preview panel shows: the customer and the email rendered for them, or
    the problem that stopped it."""
    customer = preview_customer(store=store, customer_id=customer_id, now=clock.now())
    email: RenderedEmail | None = None
    problem: TemplateProblem | None = None
    if customer is not None:
        try:
            email = preview_template(
                template=draft, customer=customer, now=clock.now(), locale=language.code
            )
        except TemplateError as error:
            variant = "" if language.own else language.code
            problem = problem_of(error=error, template=draft, locale=variant)
    field_problems = {problem.part: problem} if problem and problem.part in PARTS else {}
    return {
        "customer": customer,
        "email": email,
        "problem": problem,
        "field_problems": field_problems,
    }


def _template(store: Store, slug: str) -> EmailTemplate:
    found = previewable_template(store=store, slug=slug, now=clock.now())
    if found is None:
        raise Http404("no such template")
    return found


def _languages(template: EmailTemplate) -> list[Language]:
    translated = (
        sorted(template.translations or {}) if isinstance(template.translations, dict) else []
    )
    return [Language(template.locale, True), *(Language(code, False) for code in translated)]


def _language(template: EmailTemplate, code: str) -> Language:
    """The language `code` names among the template's, else its own."""
    languages = _languages(template)
    return next((lang for lang in languages if lang.code == code), languages[0])


def _fields(template: EmailTemplate, language: Language) -> dict[str, str]:
    """The text of `language` as the form shows it."""
    if language.own:
        text = {
            "subject": template.subject,
            "preheader": template.preheader,
            "body": template.body_mjml,
        }
    else:
        variant = template.translations.get(language.code, {})
        text = {
            "subject": variant.get("subject", ""),
            "preheader": variant.get("preheader", ""),
            "body": variant.get("body_mjml", ""),
        }
    return {"name": template.name, **text}


def _posted(data: QueryDict) -> dict[str, str]:
    """The form's fields as typed (line endings as a browser sends them, \r\n, made \n)."""
    return {
        name: data.get(name, "").replace("\r\n", "\n")
        for name in ("name", "subject", "preheader", "body")
    }


def _text(stored: EmailTemplate, language: Language, fields: dict[str, str]) -> TemplateText:
    """The stored template with `language`'s text replaced by what was typed."""
    translations = {code: dict(text) for code, text in (stored.translations or {}).items()}
    own = {
        "subject": stored.subject,
        "preheader": stored.preheader,
        "body_mjml": stored.body_mjml,
    }
    typed = {
        "subject": fields["subject"],
        "preheader": fields["preheader"],
        "body_mjml": fields["body"],
    }
    if language.own:
        own = typed
    else:
        translations[language.code] = typed
    return TemplateText(
        name=fields["name"] or stored.name,
        kind=stored.kind,
        locale=stored.locale,
        translations=translations,
        **own,
    )


def _customer_id(data: QueryDict) -> int | None:
    value = data.get("customer", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _flows_by_template(store: Store) -> dict[str, list[Flow]]:
    """The store's flows whose latest version sends each template, by template slug."""
    used: dict[str, list[Flow]] = {}
    for flow, _, definition in live_flows(flows=Flow.objects.filter(store=store).order_by("name")):
        for slug in dict.fromkeys(step.template for _, step in definition.email_steps()):
            used.setdefault(slug, []).append(flow)
    return used
