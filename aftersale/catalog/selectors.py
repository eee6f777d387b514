"""Reading the catalog."""

import datetime as dt
from urllib.parse import quote

from django.db.models import Q, QuerySet

from aftersale.catalog.models import Product
from aftersale.stores.models import Store


def store_products(
    *,
    store: Store,
    category: str | None = None,
    in_stock: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> QuerySet[Product]:
    """The store's products in id order, only those of `category` when given, only
    those in stock (or only those out of it) when `in_stock` is given, and only those
    created or changed at or after `updated_since` when given; a product whose stock is
    not tracked counts as in stock."""
    products = Product.objects.filter(store=store).order_by("pk")
    if updated_since is not None:
        products = products.filter(updated_at__gte=updated_since)
    if category is not None:
        products = products.filter(category=category)
    if in_stock is not None:
        available = Q(stock__isnull=True) | Q(stock__gt=0)
        products = products.filter(available if in_stock else ~available)
    return products


def products_awaiting_catalog(*, store: Store) -> QuerySet[Product]:
    """The store's products that came from an order's line item and that its catalog
    has not described yet (no products webhook, import or sync named them), in id order."""
    return Product.objects.filter(store=store, awaiting_catalog=True).order_by("pk")


def product_by_external_id(*, store: Store, external_id: str) -> Product | None:
    """The store's product with the store's own id `external_id`, if there is one."""
    return Product.objects.filter(store=store, external_id=external_id).first()


def products_by_id(*, store: Store, ids: list[int]) -> dict[int, Product]:
    """The store's products among `ids`, by database id."""
    return Product.objects.filter(store=store, pk__in=ids).in_bulk()


def variant_url(*, product: Product, variant_external_id: str) -> str:
    """The page of `product` showing its variant `variant_external_id`: the variant's own
    page when the catalog keeps one (a WooCommerce variation's permalink), else the
    product's URL with `variant=ID` added to its query (Shopify's form) when the catalog
    knows that variant of it; the product's URL itself otherwise ("" when it has none)."""
    variants = product.variants if isinstance(product.variants, list) else []
    variant = next(
        (v for v in variants if isinstance(v, dict) and v.get("id") == variant_external_id),
        None,
    )
    own = variant.get("url") if variant is not None else None
    if variant_external_id and isinstance(own, str) and own:
        return own
    if not product.url or not variant_external_id or variant is None:
        return product.url
    separator = "&" if "?" in product.url else "?"
    return f"{product.url}{separator}variant={quote(variant_external_id, safe='')}"
