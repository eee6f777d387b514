"""The Connect page: a store's API keys, listed (never their hashes), created (the new key
shown once, in the answer to the POST that made it) and revoked; and the CSV uploads of
order history and products with their background imports (dashboard.uploads); and a card
per shop platform: its webhook URL, topics, masked secret (set by owners) and latest
deliveries, a failed one replayable (integrations.platforms.connections)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from aftersale.catalog.selectors import products_awaiting_catalog
from aftersale.dashboard.stores import _owners_only
from aftersale.dashboard.views import _page, _store
from aftersale.integrations.import_runs import UPLOAD_LIMIT, import_runs
from aftersale.integrations.platforms.connections import platform_cards, store_delivery
from aftersale.integrations.platforms.deliveries import (
    PLATFORMS,
    NotADeadLetter,
    connect_platform,
    replay_delivery,
)
from aftersale.lib import clock
from aftersale.stores.models import Store
from aftersale.stores.selectors import api_keys
from aftersale.stores.services import InvalidApiKeyName, create_api_key, revoke_api_key


@login_required
@require_GET
def connect(request: HttpRequest, slug: str) -> HttpResponse:
    """The store's API keys and the form that creates one."""
    return _connect_page(request, _store(request, slug))


@login_required
@require_POST
@never_cache  # the answer holds a raw key: no cache may keep it
def create_key(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a key named as typed and show it, this once; a refused name is shown next to
    the field, with what was typed."""
    store = _store(request, slug)
    name = request.POST.get("name", "")
    try:
        key, raw_key = create_api_key(store=store, name=name, now=clock.now())
    except InvalidApiKeyName as error:
        return _connect_page(request, store, name=name, name_error=str(error), status=400)
    return _connect_page(request, store, new_key=key, raw_key=raw_key, status=201)


@login_required
@require_POST
def revoke_key(request: HttpRequest, slug: str, key_id: int) -> HttpResponse:
    """Revoke one of the store's keys (the form asks to confirm first), then back to the list."""
    store = _store(request, slug)
    key = revoke_api_key(key=get_object_or_404(api_keys(store=store), pk=key_id), now=clock.now())
    messages.success(request, f"API key “{key.name}” revoked: requests with it now get 401.")
    return redirect("dashboard:connect", slug=store.slug)


@login_required
@require_POST
def set_platform_secret(request: HttpRequest, slug: str, platform: str) -> HttpResponse:
    """Keep (or replace) the webhook secret of `platform`, encrypted, as `aftersale platforms
    connect` does; owners only (403 for a marketer). An empty secret is refused at its field."""
    store = _store(request, slug)
    refused = _owners_only(request, store)
    if refused is not None:
        return refused
    if platform not in PLATFORMS:
        raise Http404(f"no platform {platform!r}")
    secret = request.POST.get("secret", "")
    if not secret.strip():
        errors = {platform: "Paste the secret the platform signs its webhooks with."}
        return _connect_page(request, store, secret_errors=errors, status=400)
    connect_platform(store=store, platform=platform, secret=secret, now=clock.now())
    messages.success(request, f"{platform} webhook secret saved (encrypted).")
    return _to_card(store=store, platform=platform)


@login_required
@require_POST
def replay(request: HttpRequest, slug: str, delivery_id: int) -> HttpResponse:
    """Process one of the store's failed deliveries again, now, as `aftersale deadletters
    replay` does, then back to its platform's card with what came of it."""
    store = _store(request, slug)
    delivery = store_delivery(store=store, delivery_id=delivery_id)
    if delivery is None:
        raise Http404(f"no delivery {delivery_id} of this store")
    try:
        delivery = replay_delivery(delivery_id=delivery.pk, now=clock.now)
    except NotADeadLetter as error:
        messages.error(request, str(error))
    else:
        if delivery.status == "done":
            messages.success(request, f"Delivery {delivery.pk} replayed: {delivery.outcome}")
        else:
            messages.error(request, f"Delivery {delivery.pk} failed again: {delivery.error}")
    return _to_card(store=store, platform=delivery.platform)


def _to_card(*, store: Store, platform: str) -> HttpResponse:
    return redirect(f"{reverse('dashboard:connect', args=[store.slug])}#platform-{platform}")


def _connect_page(
    request: HttpRequest, store: Store, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "section": "connect",
        "store": store,
        "keys": api_keys(store=store),
        "runs": import_runs(store=store),
        "awaiting_catalog": products_awaiting_catalog(store=store).count(),
        "upload_limit_mb": UPLOAD_LIMIT // 2**20,
        "platforms": platform_cards(store=store),
        **extra,
    }
    response = _page(request, "dashboard/connect/connect.html", context)
    response.status_code = status
    return response
