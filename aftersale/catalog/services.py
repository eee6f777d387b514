"""Writing the catalog."""

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from aftersale.catalog.aliases import resolve_product_ids
from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord
from aftersale.lib import bulk, clock
from aftersale.stores.models import Store

_UPDATABLE = ["name", "category", "department", "brand", "price", "stock", "image_url", "url"]
_PLATFORM = ["variants", "tags"]  # kept as told; a record that does not tell keeps them


def upsert_products(*, store: Store, records: Sequence[ProductRecord]) -> dict[str, int]:
    """Create or update `records`; return the product id for every external id given.

    A field a record leaves empty (None price or stock, blank text; None variants or
    tags) keeps its stored value.
    A product created or changed is stamped with the clock's time in `updated_at`; one an
    order brought along (ensure_products) is no longer awaiting the catalog.
    """
    now = clock.now()
    by_external_id = {record.external_id: record for record in records}
    existing = {
        product.external_id: product
        for product in Product.objects.filter(store=store, external_id__in=by_external_id)
    }
    changed = [
        product
        for external_id, product in existing.items()
        if _apply(product, by_external_id[external_id]) | product.awaiting_catalog
    ]
    for product in changed:
        product.updated_at, product.awaiting_catalog = now, False
    if changed:
        Product.objects.bulk_update(
            changed, [*_UPDATABLE, *_PLATFORM, "updated_at", "awaiting_catalog"], batch_size=500
        )
    new = [
        # A product known by one of its variants only (ProductRecord.merge_variants)
        # awaits its own description.
        _new_product(store, record, now, awaiting_catalog=record.merge_variants)
        for external_id, record in by_external_id.items()
        if external_id not in existing
    ]
    Product.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    return product_ids(store=store, external_ids=by_external_id)


def ensure_products(*, store: Store, records: Iterable[ProductRecord]) -> dict[str, int]:
    """Create the products of `records` that the store does not know yet, awaiting the
    catalog (Product.awaiting_catalog), leaving known ones untouched (an order's line
    item must not overwrite the catalog); return all their ids. An external id that is
    a SKU or variant id of a catalog product (catalog.aliases) is that product."""
    wanted = {record.external_id: record for record in records}
    ids = resolve_product_ids(store=store, keys=wanted)
    missing = [
        _new_product(store, r, clock.now(), awaiting_catalog=True)
        for eid, r in wanted.items()
        if eid not in ids
    ]
    if missing:
        Product.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
        ids.update(product_ids(store=store, external_ids=[p.external_id for p in missing]))
    return ids


def product_ids(*, store: Store, external_ids: Iterable[str]) -> dict[str, int]:
    """Map external product ids to database ids (unknown ids are left out)."""
    # One plain query per few thousand ids (lib.bulk): an import asks for thousands.
    return bulk.ids_by_key(model=Product, key="external_id", values=external_ids, store_id=store.pk)


def _new_product(
    store: Store, record: ProductRecord, now: dt.datetime, *, awaiting_catalog: bool = False
) -> Product:
    return Product(
        updated_at=now,
        awaiting_catalog=awaiting_catalog,
        store=store,
        external_id=record.external_id,
        name=record.name or f"Product {record.external_id}",
        category=record.category,
        department=record.department,
        brand=record.brand,
        price=record.price if record.price is not None else Decimal("0"),
        stock=record.stock,
        image_url=record.image_url,
        url=record.url,
        variants=_variants(record) or [],
        tags=list(record.tags or ()),
    )


def _apply(product: Product, record: ProductRecord) -> bool:
    """Copy the record's non-empty fields onto `product`; True when anything changed."""
    changed = False
    for field in _UPDATABLE:
        value = getattr(record, field)
        if value is None or value == "":
            continue
        if getattr(product, field) != value:
            setattr(product, field, value)
            changed = True
    variants = _variants(record)
    if variants is not None and record.merge_variants:
        variants = merged_variants(product.variants, variants)
    told = {
        "variants": variants,
        "tags": None if record.tags is None else list(record.tags),
    }
    for field, told_value in told.items():
        if told_value is not None and getattr(product, field) != told_value:
            setattr(product, field, told_value)
            changed = True
    return changed


def _variants(record: ProductRecord) -> list[dict[str, Any]] | None:
    """The record's variants as the catalog keeps them (None: the record does not say)."""
    if record.variants is None:
        return None
    return [
        {
            "id": v.external_id,
            "sku": v.sku,
            "price": None if v.price is None else str(v.price),
            "stock": v.stock,
            "title": v.title,
            **({"url": v.url} if v.url else {}),
        }
        for v in record.variants
    ]


def merged_variants(stored: Any, told: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `stored` variants with each of `told` in place of the stored one of its id
    (appended when there is none)."""
    kept = [v for v in stored if isinstance(v, dict)] if isinstance(stored, list) else []
    by_id = {v["id"]: v for v in told}
    merged = [by_id.pop(v.get("id"), v) for v in kept]
    return merged + [v for v in told if v["id"] in by_id]
