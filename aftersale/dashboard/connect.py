"""The Connect page: a store's API keys, listed (never their hashes), created (the new key
shown once, in the answer to the POST that made it) and revoked; and the CSV uploads of
order history and products with their background imports (dashboard.uploads)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from aftersale.dashboard.views import _page, _store
from aftersale.integrations.import_runs import UPLOAD_LIMIT, import_runs
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


def _connect_page(
    request: HttpRequest, store: Store, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "section": "connect",
        "store": store,
        "keys": api_keys(store=store),
        "runs": import_runs(store=store),
        "upload_limit_mb": UPLOAD_LIMIT // 2**20,
        **extra,
    }
    response = _page(request, "dashboard/connect/connect.html", context)
    response.status_code = status
    return response
