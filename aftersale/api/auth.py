"""API keys: each store's key identifies the store a request acts for."""

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from aftersale.stores.models import Store
from aftersale.stores.selectors import store_for_api_key


class BearerKey(HttpBearer):
    """`Authorization: Bearer <key>`."""

    def authenticate(self, request: HttpRequest, token: str) -> Store | None:
        return store_for_api_key(raw_key=token)


class HeaderKey(APIKeyHeader):
    """`X-API-Key: <key>`."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Store | None:
        return store_for_api_key(raw_key=key or "")


# Either header works; with neither (or an unknown key) the request gets 401.
STORE_KEY = [BearerKey(), HeaderKey()]


def request_store(request: HttpRequest) -> Store:
    """The store an authenticated request acts for."""
    store: Store = request.auth  # type: ignore[attr-defined]
    return store
