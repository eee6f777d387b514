"""A connected shop's whole catalog, read through its admin API: Shopify's REST Admin
`products.json`, 250 products a page, following the `Link` header's `rel="next"` cursor,
each product read as the products webhooks read it (Shopify.read_product) and applied
through their out-of-order guard (deliveries.apply_catalog_versions): a product a newer
webhook already changed is left as it is. So a newly connected shop has its prices, stock,
images and product links at once, not only as its products change.

Shopify answers 429 with `Retry-After` when the shop's request budget is spent: the sync
waits that long and asks again; a server error or a dropped connection is retried a few
times with growing waits; a refused token (401, 403) stops it at once, saying so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import requests

from aftersale.coupons.services import require_shop_sync
from aftersale.integrations.models import PlatformConnection
from aftersale.integrations.platforms.base import InvalidPayload
from aftersale.integrations.platforms.deliveries import apply_catalog_versions
from aftersale.integrations.platforms.shopify import Shopify, storefront, with_links
from aftersale.lib import clock
from aftersale.stores import credentials
from aftersale.stores.models import Store

API_VERSION = "2024-10"
PAGE_SIZE = 250
RETRIES = 5
TIMEOUT_SECONDS = 30
SHOPIFY = Shopify()
_NEXT = re.compile(r'<([^>]+)>;\s*rel="?next"?')


class CatalogUnavailable(RuntimeError):
    """The shop's catalog could not be read: what went wrong, and where."""


@dataclass(frozen=True)
class SyncReport:
    """A finished catalog sync: the products written and the pages read."""

    products: int
    pages: int


@dataclass(frozen=True)
class AdminShop:
    """Where and how to call a store's Shopify Admin API."""

    origin: str  # https://little-gift.myshopify.com (or a test server's)
    token: str
    storefront: str  # where customers see the products: the store's website, else the shop


def sync_shopify_catalog(
    *,
    store: Store,
    origin: str = "",
    session: requests.Session | None = None,
    wait: Callable[[float], None] = time.sleep,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Read every product of `store`'s Shopify shop and write it to the catalog (created
    or updated; a product an order brought along no longer awaits the catalog), each
    through the webhooks' out-of-order guard: a product a webhook (or a sync) already
    applied at the same or a later `updated_at` is left as it is. The shop
    is the connection's (`connect_shopify_admin`), at `origin` when given (a test's
    server). Raises CatalogUnavailable when the shop is not connected for it, refuses
    the token, keeps failing or answers what is not a products page; the pages written
    before stay written (a sync again is harmless). `progress` hears after each page."""
    shop = admin_shop(store=store, origin=origin)
    http = session or requests.Session()
    written = pages = 0
    for products in _pages(http, shop, wait=wait):
        changes = []
        for i, product in enumerate(products):
            try:
                change = SHOPIFY.read_product(product)
            except InvalidPayload as error:
                raise CatalogUnavailable(f"page {pages + 1}, products[{i}].{error}") from error
            linked = with_links(change.products, storefront=shop.storefront)
            changes.append(replace(change, products=linked))
        apply_catalog_versions(store=store, platform="shopify", changes=changes)
        written, pages = written + len(changes), pages + 1
        if progress is not None:
            progress(SyncReport(products=written, pages=pages))
    return SyncReport(products=written, pages=pages)


def connect_shopify_admin(*, store: Store, shop_domain: str, admin_token: str) -> None:
    """Keep the shop domain (`little-gift.myshopify.com`) and the admin API access token
    (encrypted) of `store`'s Shopify connection, for the catalog sync; from then on the
    store's coupon codes are created in the shop before they are mailed (coupon_sync).
    The webhooks' connection (deliveries.connect_platform) must exist first: ValueError
    otherwise, or for an empty domain or token."""
    domain = shop_domain.strip().removeprefix("https://").removeprefix("http://").strip("/")
    if not domain or not admin_token.strip():
        raise ValueError("give the shop's domain and an admin API access token")
    updated = PlatformConnection.objects.filter(store=store, platform="shopify").update(
        shop_domain=domain, admin_token=credentials.encrypt(admin_token.strip())
    )
    if not updated:
        raise ValueError("connect the store's Shopify webhooks first (its secret)")
    require_shop_sync(store=store, now=clock.now())


def admin_shop(*, store: Store, origin: str = "") -> AdminShop:
    """`store`'s Shopify Admin API as its connection keeps it (`connect_shopify_admin`),
    at `origin` when given (a test's server); CatalogUnavailable, saying how to give
    it, when the store has none."""
    connection = PlatformConnection.objects.filter(store=store, platform="shopify").first()
    if connection is None or not connection.shop_domain or not connection.admin_token:
        raise CatalogUnavailable(
            f"store {store.slug} has no Shopify admin access: "
            "aftersale platforms connect shopify --shop DOMAIN (docs/platforms.md)"
        )
    shop_origin = origin or f"https://{connection.shop_domain}"
    return AdminShop(
        origin=shop_origin.rstrip("/"),
        token=credentials.decrypt(connection.admin_token),
        storefront=storefront(store=store, shop_domain=connection.shop_domain),
    )


def _pages(
    http: requests.Session, shop: AdminShop, *, wait: Callable[[float], None]
) -> Iterator[list[Any]]:
    url: str | None = f"{shop.origin}/admin/api/{API_VERSION}/products.json?limit={PAGE_SIZE}"
    while url:
        response = _get(http, url, shop.token, wait=wait)
        try:
            products = response.json()["products"]
        except (ValueError, KeyError, TypeError) as error:
            raise CatalogUnavailable(f"{url}: not a products page ({error})") from error
        if not isinstance(products, list):
            raise CatalogUnavailable(f"{url}: products is not a list")
        yield products
        found = _NEXT.search(response.headers.get("Link", ""))
        url = found.group(1) if found else None


def _get(
    http: requests.Session, url: str, token: str, *, wait: Callable[[float], None]
) -> requests.Response:
    why, retry_after = "", None
    for attempt in range(RETRIES + 1):
        if attempt:  # Shopify's Retry-After, else 1, 2, 4... seconds
            wait(retry_after if retry_after is not None else float(2 ** (attempt - 1)))
        retry_after = None
        try:
            response = http.get(
                url, headers={"X-Shopify-Access-Token": token}, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            why = f"cannot reach the shop: {error}"
            continue
        if response.status_code in (401, 403):
            raise CatalogUnavailable(
                f"{url}: the shop refused the admin API token ({response.status_code})"
            )
        if response.status_code == 429:
            why, retry_after = "rate limited (429)", _seconds(response.headers.get("Retry-After"))
            continue
        if response.status_code >= 500:
            why = f"answered {response.status_code}"
            continue
        if response.status_code != 200:
            raise CatalogUnavailable(f"{url}: answered {response.status_code}")
        return response
    raise CatalogUnavailable(f"{url}: gave up after {RETRIES + 1} attempts ({why})")


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value or ""), 0.0)
    except ValueError:
        return None
