"""API keys: the key a request carries names the store it acts for; a revoked or unknown
key gets 401."""

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from aftersale.lib import clock
from aftersale.stores.models import Store
from aftersale.stores.selectors import active_api_key
from aftersale.stores.services import record_api_key_use


def store_for_key(raw_key: str) -> Store | None:
    """The store whose key in use `raw_key` is, noting the key's use; None otherwise."""
    key = active_api_key(raw_key=raw_key)
    if key is None:
        return None
    record_api_key_use(key=key, now=clock.now())
    return key.store


class BearerKey(HttpBearer):
    """`Authorization: Bearer <key>`."""

    def authenticate(self, request: HttpRequest, token: str) -> Store | None:
        return store_for_key(token)


class HeaderKey(APIKeyHeader):
    """`X-API-Key: <key>`."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Store | None:
        return store_for_key(key or "")


# Either header works; with neither (or an unknown or revoked key) the request gets 401.
STORE_KEY = [BearerKey(), HeaderKey()]


def request_store(request: HttpRequest) -> Store:
    """The store an authenticated request acts for."""
    store: Store = request.auth  # type: ignore[attr-defined]
    return store
