"""Normalized product data, as every source (CSV, API, platform webhooks) delivers it."""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """One variant of a product (a size, a colour) as its platform sells it: orders and
    recommendations stay on the product; the variant is what an email links to."""

    external_id: str
    sku: str = ""
    price: Decimal | None = None
    stock: int | None = None
    title: str = ""
    # The variant's own page, where the platform gives one (a WooCommerce variation's
    # permalink); "" links to the product's page with ?variant=ID (Shopify's form).
    url: str = ""


@dataclass(frozen=True, slots=True)
class ProductRecord:
    external_id: str
    name: str
    category: str = ""
    department: str = ""
    brand: str = ""
    price: Decimal | None = None
    stock: int | None = None
    image_url: str = ""
    url: str = ""
    # Platform catalogs (Shopify): the variants and tags (None: the source does not say,
    # the stored ones stay) and the handle of the product's page (/products/HANDLE).
    variants: tuple[VariantRecord, ...] | None = None
    tags: tuple[str, ...] | None = None
    handle: str = ""
    # The record tells some of the product's variants only (a WooCommerce variation's own
    # webhook): they replace the stored variants of the same id, the others stay.
    merge_variants: bool = False
