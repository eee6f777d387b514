"""The Coupons pages: the store's coupon programs with what their codes did, and one
program's page (its latest codes a page at a time, its terms to change, codes to add in
bulk, the CSV export of every code)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from aftersale.coupons.export import export_lines
from aftersale.coupons.models import CouponProgram, DiscountKind
from aftersale.coupons.selectors import program_by_slug, program_codes, program_summaries
from aftersale.coupons.services import (
    MAX_BULK,
    TERMS,
    InvalidProgram,
    generate_codes,
    save_program,
)
from aftersale.dashboard.views import _page, _store
from aftersale.flows.selectors import flow_summaries
from aftersale.lib import clock
from aftersale.stores.models import Store

CODES_PER_PAGE = 50


@login_required
@require_GET
def coupons(request: HttpRequest, slug: str) -> HttpResponse:
    """The store's programs, each with the flow it belongs to (a flow's program has the
    flow's slug, a step's own FLOW--STEP): terms in words, codes issued, redeemed with
    the rate, flagged uses and codes not yet handed out."""
    store = _store(request, slug)
    flows = {flow.slug: flow for flow in flow_summaries(store=store)}
    rows = [
        (summary, flows.get(summary.program.slug.split("--")[0]))
        for summary in program_summaries(store=store)
    ]
    context = {"section": "coupons", "store": store, "rows": rows}
    return _page(request, "dashboard/coupons/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def coupon_program(request: HttpRequest, slug: str, program: str) -> HttpResponse:
    """One program: its latest codes (`?page=`), its terms (POST action=terms saves
    them; each bad field is named next to it, nothing typed is lost) and the bulk form
    (POST action=generate adds `count` codes tied to nobody yet)."""
    store = _store(request, slug)
    found = _program(store, program)
    if request.method == "GET":
        return _program_page(request, store, found)
    if request.POST.get("action") == "generate":
        return _generate(request, store, found)
    typed = {name: request.POST.get(name, "").strip() for name in TERMS}
    try:
        save_program(store=store, slug=found.slug, **typed)
    except InvalidProgram as refused:
        return _program_page(request, store, found, typed=typed, errors=refused.errors, status=400)
    messages.success(request, "Terms saved: codes issued from now on have them.")
    return redirect("dashboard:coupon-program", slug=store.slug, program=found.slug)


@login_required
@require_GET
def coupon_codes_csv(request: HttpRequest, slug: str, program: str) -> StreamingHttpResponse:
    """Every code of the program as CSV, streamed (the same as `aftersale coupons
    export`)."""
    found = _program(_store(request, slug), program)
    response = StreamingHttpResponse(
        export_lines(program=found), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="coupons-{found.slug}.csv"'
    return response


def _program(store: Store, slug: str) -> CouponProgram:
    found = program_by_slug(store=store, slug=slug)
    if found is None:
        raise Http404("no such coupon program")
    return found


def _generate(request: HttpRequest, store: Store, program: CouponProgram) -> HttpResponse:
    typed = request.POST.get("count", "").strip()
    count = int(typed) if typed.isdigit() else 0
    if not 1 <= count <= MAX_BULK:
        error = f"Enter a whole number of codes from 1 to {MAX_BULK:,}."
        return _program_page(request, store, program, count=typed, count_error=error, status=400)
    added = generate_codes(program=program, count=count, now=clock.now())
    messages.success(request, f"Added {added:,} codes: they are handed out first.")
    return redirect("dashboard:coupon-program", slug=store.slug, program=program.slug)


def _program_page(
    request: HttpRequest,
    store: Store,
    program: CouponProgram,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    codes = Paginator(program_codes(program=program), CODES_PER_PAGE)
    terms = typed or {
        "kind": program.kind,
        "amount": f"{program.amount:f}",
        "minimum_order": f"{program.minimum_order:f}",
        "valid_days": str(program.valid_days),
        "code_prefix": program.code_prefix,
    }
    context = {
        "section": "coupons",
        "store": store,
        "summary": program_summaries(store=store, slug=program.slug)[0],
        "codes": codes.get_page(request.GET.get("page")),
        "terms": terms,
        "errors": {},
        "kinds": DiscountKind.choices,
        "max_bulk_text": f"{MAX_BULK:,}",
        **extra,
    }
    response = _page(request, "dashboard/coupons/program.html", context)
    response.status_code = status
    return response
