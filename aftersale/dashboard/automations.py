"""The Automations page: the ready flows to set up, and the store's own flows with their
status, version, how many customers are in each and their headline numbers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from aftersale.dashboard.reports import revenue_text
from aftersale.dashboard.views import _page, _store
from aftersale.flows.selectors import flow_summaries, library_flows, store_flows
from aftersale.flows.services import set_up_library_flow
from aftersale.flows.wording import steps_line
from aftersale.lib import clock
from aftersale.reports.selectors import flow_headlines


@login_required
@require_GET
def automations(request: HttpRequest, slug: str) -> HttpResponse:
    """The ready flows as cards with Set up, and the store's flows with the numbers of
    their reports over all journeys."""
    store = _store(request, slug)
    ready = [(flow, steps_line(flow.definition.steps)) for flow in library_flows()]
    flows = store_flows(store=store)
    headlines = flow_headlines(flows=flows, now=clock.now())
    by_slug = {flow.slug: headlines[flow.pk] for flow in flows}
    rows = [(summary, by_slug[summary.slug]) for summary in flow_summaries(store=store)]
    context = {
        "section": "automations",
        "store": store,
        "ready": ready,
        "flows": [
            (
                summary,
                headline,
                revenue_text(headline.revenue_by_currency, headline.currency, store),
            )
            for summary, headline in rows
        ],
    }
    return _page(request, "dashboard/automations/automations.html", context)


@login_required
@require_POST
def flow_setup(request: HttpRequest, slug: str, ready: str) -> HttpResponse:
    """Install the ready flow `ready` as a draft (under `ready-2` ... when the store has
    it already) with its templates, and open it in the builder, coupon first."""
    store = _store(request, slug)
    try:
        flow = set_up_library_flow(store=store, ready=ready, now=clock.now())
    except LookupError as error:
        raise Http404(str(error)) from error
    messages.success(
        request,
        f"“{flow.name}” is set up as a draft. Choose its coupon, check its messages, "
        "then set it live.",
    )
    return redirect("dashboard:flow-edit", slug=store.slug, flow=flow.slug)
