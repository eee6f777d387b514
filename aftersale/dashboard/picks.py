"""Recommendations per customer: pick one of the store's customers (by email, name or
id; the latest buyer until then) and see what each strategy an email can ask for would
show them, each pick with its reason, its product's display name and its price."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from aftersale.dashboard.views import _page, _store
from aftersale.lib import clock
from aftersale.messaging.rendering.names import display_name
from aftersale.messaging.rendering.previews import preview_customer, preview_customers
from aftersale.recommendations.selectors import picks_by_strategy

# How a page names each strategy, and what it draws on (docs/recommendations.md).
STRATEGY_TITLES = {
    "cross_sell": ("Cross-sell", "the merchant's rules, discovery, bought together, similar"),
    "upsell": ("Upsell", "an upgrade of what they bought"),
    "replenishment": ("Replenishment", "what they are due to buy again"),
    "personal": ("Personal", "similar to their whole history"),
}


@login_required
@require_GET
def customer_picks(request: HttpRequest, slug: str) -> HttpResponse:
    """The customers matching `?q=` (email, name or store id), and for `?customer=` (else
    the latest buyer) the picks of each strategy with their reasons and prices."""
    store = _store(request, slug)
    query = request.GET.get("q", "")[:200].strip()
    picked = request.GET.get("customer", "")
    customer_id = int(picked) if picked.isdigit() and len(picked) < 19 else None
    if picked and customer_id is None:
        raise Http404("no such customer")
    matches = preview_customers(store=store, query=query) if query else []
    if query and customer_id is None and len(matches) == 1:
        customer_id = matches[0].pk
    customer = None
    if customer_id is not None or not query:
        customer = preview_customer(store=store, customer_id=customer_id, now=clock.now())
    if customer_id is not None and customer is None:
        raise Http404("no such customer")
    strategies = []
    if customer is not None:
        found = picks_by_strategy(store=store, customer_id=customer.pk, now=clock.now())
        strategies = [
            {
                "key": key,
                "title": STRATEGY_TITLES[key][0],
                "draws_on": STRATEGY_TITLES[key][1],
                "picks": [
                    {
                        "pick": pick,
                        "name": display_name(pick.name),
                        "price": _money(pick.price, store.currency),
                        "upgrade_of": display_name(pick.upgrade_of),
                        "more": _money(pick.price_difference, store.currency)
                        if pick.price_difference is not None
                        else "",
                    }
                    for pick in picks
                ],
            }
            for key, picks in found.items()
        ]
    context = {
        "section": "recommendations",
        "store": store,
        "query": query,
        "matches": matches,
        "customer": customer,
        "strategies": strategies,
    }
    return _page(request, "dashboard/picks/customer_picks.html", context)


def _money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency, locale="en"))
