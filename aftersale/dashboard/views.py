"""The merchant's dashboard: plain views over the domain apps' selectors. Every page
needs a login, and a store's pages exist only for the users who may see that store."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from aftersale.dashboard.evaluation import task_results
from aftersale.dashboard.live_strategies import live_rows
from aftersale.flows.selectors import live_flows
from aftersale.recommendations.evaluation.records import (
    chart_png,
    evaluation_run,
    evaluation_runs,
    suggested_cuts,
)
from aftersale.stores.models import Store
from aftersale.stores.selectors import StoreNotFound, store_for_user, stores_for_user


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """The stores this login may see, each with how many flows are live."""
    stores = list(stores_for_user(user=request.user))
    live = Counter(flow.store_id for flow, _, _ in live_flows())
    rows = [(store, live[store.pk]) for store in stores]
    return _page(request, "dashboard/overview.html", {"section": "overview", "rows": rows})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def recommendations(request: HtmxRequest, slug: str) -> HttpResponse:
    """The latest evaluation run the store may see (or the one `?run=` picks), as tables
    and a chart; an htmx request for another run gets only the results panel."""
    store = _store(request, slug)
    picked = request.GET.get("run", "")
    run_id = int(picked) if picked.isdigit() else None
    run = evaluation_run(store=store, run_id=run_id)
    if picked and (run_id is None or run is None):
        raise Http404("no such evaluation run")
    context = {
        "section": "recommendations",
        "store": store,
        "run": run,
        "tasks": task_results(report=run.report) if run else [],
        "runs": evaluation_runs(store=store),
        "cuts": None if run and run.store_id else suggested_cuts(store=store),
        "live": live_rows(store=store),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "dashboard/evaluation_panel.html", context)
    return _page(request, "dashboard/recommendations.html", context)


@login_required
@require_GET
def evaluation_chart(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    """The chart of a stored run as PNG (the one `aftersale evaluate` writes)."""
    run = evaluation_run(store=_store(request, slug), run_id=run_id)
    if run is None:
        raise Http404("no such evaluation run")
    response = HttpResponse(chart_png(run=run), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"  # a stored run never changes
    return response


def _store(request: HttpRequest, slug: str) -> Store:
    """The store `slug` names if this login may see it; 404 otherwise, so another
    merchant's store looks the same as one that does not exist."""
    try:
        return store_for_user(user=request.user, slug=slug)
    except StoreNotFound as error:
        raise Http404(str(error)) from error


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Render a full page: with the stores for the header's store picker."""
    return render(request, template, {**context, "stores": stores_for_user(user=request.user)})
