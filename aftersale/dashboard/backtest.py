"""The Backtest page of a flow: run it (draft or live) over the store's last N days in
virtual time, in the background (flows.backtest_runs), with htmx-polled progress, then
read what it would have sent per step, to how many, and the purchases that followed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from aftersale.dashboard.views import HtmxRequest, _page, _store
from aftersale.flows.backtest_runs import (
    DAYS_DEFAULT,
    DAYS_MAX,
    InvalidBacktest,
    backtest_run,
    backtest_runs,
    queue_backtest,
)
from aftersale.flows.models import Flow
from aftersale.flows.selectors import flow_by_slug
from aftersale.lib import clock
from aftersale.stores.models import Store


@login_required
@require_http_methods(["GET", "POST"])
def backtest(request: HttpRequest, slug: str, flow: str) -> HttpResponse:
    """GET: the form (last N days) and the flow's latest backtests, the newest shown in
    full. POST: queue a backtest and come back here to watch it; days out of range are
    refused next to the field, with what was typed."""
    store = _store(request, slug)
    found = _flow(store, flow)
    if request.method == "GET":
        return _backtest_page(request, store, found)
    typed = request.POST.get("days", "").strip()
    try:
        if not typed.isdigit():
            raise InvalidBacktest(f"enter a whole number of days, 1 to {DAYS_MAX:,}", field="days")
        queue_backtest(flow=found, days=int(typed), now=clock.now())
    except InvalidBacktest as error:
        return _backtest_page(request, store, found, days=typed, days_error=str(error), status=400)
    return redirect("dashboard:flow-backtest", slug=store.slug, flow=found.slug)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_status(request: HtmxRequest, slug: str, flow: str, run_id: int) -> HttpResponse:
    """One backtest: for htmx's poll only its panel (polling stops once it ended), else
    the Backtest page showing it."""
    store = _store(request, slug)
    found = _flow(store, flow)
    run = backtest_run(store=store, run_id=run_id)
    if run is None or run.flow_id != found.pk:
        raise Http404("no such backtest")
    if request.htmx and not request.htmx.history_restore_request:
        context = {"store": store, "flow": found, "run": run, "currency": store.currency}
        return render(request, "dashboard/backtest/run.html", context)
    return _backtest_page(request, store, found, shown=run)


def _flow(store: Store, slug: str) -> Flow:
    found = flow_by_slug(store=store, slug=slug)
    if found is None:
        raise Http404("no such flow")
    return found


def _backtest_page(
    request: HttpRequest, store: Store, flow: Flow, status: int = 200, **extra: Any
) -> HttpResponse:
    runs = list(backtest_runs(flow=flow))
    shown = extra.pop("shown", None) or (runs[0] if runs else None)
    context = {
        "section": "automations",
        "store": store,
        "flow": flow,
        "run": shown,
        "earlier_runs": [run for run in runs if run != shown],
        "days_max": DAYS_MAX,
        "days_max_text": f"{DAYS_MAX:,}",
        "days": str(shown.days) if shown else str(DAYS_DEFAULT),
        **extra,
    }
    response = _page(request, "dashboard/backtest/backtest.html", context)
    response.status_code = status
    return response
