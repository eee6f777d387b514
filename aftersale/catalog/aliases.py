"""A product's other names: its variants' SKUs and variant ids (ProductAlias).

A Shopify order export keys its lines by SKU ("Lineitem sku"), a line item without a
product id by `sku:SKU`, while the webhooks and the catalog sync name the platform's
product id. When the catalog tells a product's variants, each variant's SKU and id become
aliases of the product (`record_aliases`), and the products an import created under one
of them are the ones to fold into it (`Fold`, carried out by integrations.product_folds,
which moves the other apps' rows). Lines arriving later resolve through the aliases
(`resolve_product_ids`), so they land on the catalog's product. A SKU that the variants
of two products carry names neither: it is kept as shared (product None), resolves to
nothing and folds nothing, and `shared_aliases` lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aftersale.catalog.models import Product, ProductAlias
from aftersale.catalog.records import ProductRecord
from aftersale.lib import bulk
from aftersale.stores.models import Store

SKU_PREFIX = "sku:"  # a line item without a product id, named by its SKU (platforms/)
_MAX = 100  # ProductAlias.alias's length


@dataclass(frozen=True, slots=True)
class Fold:
    """Product `source_id` (created from order lines under a SKU or variant id) is the
    catalog's product `target_id`: its lines become lines of the variant `variant_id`
    (SKU `sku`) of it."""

    source_id: int
    target_id: int
    sku: str
    variant_id: str


@dataclass(frozen=True, slots=True)
class AliasReport:
    """What `record_aliases` found: the products to fold, and the aliases carried by the
    variants of more than one product (each with those products' external ids)."""

    folds: tuple[Fold, ...] = ()
    shared: tuple[tuple[str, tuple[str, ...]], ...] = ()


def alias_of(key: str) -> str:
    """The alias a line's product key names: a SKU given as `sku:SKU` is the SKU."""
    return key.removeprefix(SKU_PREFIX)


def resolve_product_ids(*, store: Store, keys: Iterable[str]) -> dict[str, int]:
    """Map the product keys order lines give (a product's external id, a SKU, `sku:SKU`,
    a variant id) to the store's product ids: a product's own external id first, else
    the product whose variant has that SKU or id (a shared SKU names none). Unknown keys
    are left out. Two queries per few thousand keys."""
    wanted = list(dict.fromkeys(keys))
    found = bulk.ids_by_key(model=Product, key="external_id", values=wanted, store_id=store.pk)
    rest = [key for key in wanted if key not in found]
    if rest:
        found.update(aliased_product_ids(store=store, keys=rest))
    return found


def aliased_product_ids(*, store: Store, keys: Iterable[str]) -> dict[str, int]:
    """Map each of `keys` that is an alias of one product (by `alias_of`) to its id."""
    by_alias: dict[str, list[str]] = {}
    for key in keys:
        by_alias.setdefault(alias_of(key), []).append(key)
    products = bulk.ids_by_key(
        model=ProductAlias, key="alias", values=by_alias, store_id=store.pk, value="product_id"
    )
    return {
        key: product
        for alias, product in products.items()
        if product is not None
        for key in by_alias[alias]
    }


def record_aliases(*, store: Store, records: Sequence[ProductRecord]) -> AliasReport:
    """Make the aliases of the products of `records` that tell their variants (the
    products written already) exactly their variants' SKUs and ids: an alias a product's
    variants no longer carry is dropped; one another product's variants carry too becomes
    shared (it names neither). Return the products to fold (`Fold`): those whose external
    id is one of the aliases (as a SKU, `sku:SKU` or a variant id) and that are no
    platform catalog product themselves (they tell no variants), and the shared aliases."""
    told = [r for r in records if r.variants is not None]
    if not told:
        return AliasReport()
    # The variants as stored (a record may tell some only: ProductRecord.merge_variants).
    stored = _stored_variants(store, [r.external_id for r in told])
    claims = _Claims.of(stored)
    _drop_unclaimed(store, batch=set(stored), claims=claims.products)
    shared = _write(store, batch=set(stored), claims=claims)
    owned = {
        alias: next(iter(owners))
        for alias, owners in claims.products.items()
        if alias not in dict(shared)
    }
    return AliasReport(
        folds=_folds(store, owned, claims.kinds, claims.variant_of_sku),
        shared=_named(store, shared),
    )


@dataclass(slots=True)
class _Claims:
    """The aliases the stored variants carry: {alias: the products carrying it}, each
    alias's kind ("sku" or "variant"), and the variant id of each SKU."""

    products: dict[str, set[int]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    variant_of_sku: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, stored: dict[int, list[dict[str, Any]]]) -> _Claims:
        claims = cls()
        for product, variants in stored.items():
            for variant in variants:
                variant_id, sku = str(variant.get("id") or ""), str(variant.get("sku") or "")
                for alias, kind in ((sku, "sku"), (variant_id, "variant")):
                    alias = alias.strip()[:_MAX]
                    if not alias:
                        continue
                    claims.products.setdefault(alias, set()).add(product)
                    claims.kinds.setdefault(alias, kind)
                    if kind == "sku":
                        claims.variant_of_sku.setdefault(alias, variant_id)
        return claims


def _drop_unclaimed(store: Store, *, batch: set[int], claims: dict[str, set[int]]) -> None:
    """Delete the aliases of the products `batch` that their variants no longer carry."""
    dropped = [
        pk
        for pk, alias, product in ProductAlias.objects.filter(
            bulk.id_in("product_id", batch), store=store
        ).values_list("pk", "alias", "product_id")
        if product not in claims.get(alias, ())
    ]
    if dropped:
        ProductAlias.objects.filter(bulk.id_in("pk", dropped)).delete()


def _write(store: Store, *, batch: set[int], claims: _Claims) -> list[tuple[str, set[int]]]:
    """Write each claimed alias with its one owner, or as shared (no product) when the
    variants of several products carry it, counting an owner outside `batch` that holds
    it already. Return the shared aliases with the products carrying them."""
    existing = _existing(store, claims.products)
    shared: list[tuple[str, set[int]]] = []
    new, changed = [], []
    for alias, claimants in claims.products.items():
        row = existing.get(alias)
        owners = set(claimants)
        if row is not None and row.product_id is not None and row.product_id not in batch:
            owners.add(row.product_id)
        was_shared = row is not None and row.product_id is None
        owner = next(iter(owners)) if len(owners) == 1 and not was_shared else None
        if owner is None:
            shared.append((alias, owners))
        if row is None:
            kind = claims.kinds[alias]
            new.append(ProductAlias(store=store, alias=alias, kind=kind, product_id=owner))
        elif row.product_id != owner:
            row.product_id = owner
            changed.append(row)
    # ignore_conflicts: a catalog write beside this one may have added the same alias.
    ProductAlias.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    ProductAlias.objects.bulk_update(changed, ["product"], batch_size=500)
    return shared


def _stored_variants(store: Store, external_ids: list[str]) -> dict[int, list[dict[str, Any]]]:
    """{product id: its stored variants} of `store`'s products `external_ids`."""
    found: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(external_ids), 500):
        rows = Product.objects.filter(
            store=store, external_id__in=external_ids[start : start + 500]
        ).values_list("pk", "variants")
        for pk, variants in rows:
            listed = variants if isinstance(variants, list) else []
            found[pk] = [v for v in listed if isinstance(v, dict)]
    return found


def _existing(store: Store, aliases: Iterable[str]) -> dict[str, ProductAlias]:
    wanted = list(aliases)
    rows: dict[str, ProductAlias] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows.update(
            (row.alias, row) for row in ProductAlias.objects.filter(store=store, alias__in=part)
        )
    return rows


def _folds(
    store: Store, owned: dict[str, int], kinds: dict[str, str], variant_of_sku: dict[str, str]
) -> tuple[Fold, ...]:
    """The products keyed by one of the `owned` aliases ({alias: product id}) that are
    no catalog product themselves, each with the product it is to be folded into."""
    keys: dict[str, str] = {}
    for alias, kind in kinds.items():
        if alias in owned:
            keys[alias] = alias
            if kind == "sku":
                keys[f"{SKU_PREFIX}{alias}"] = alias
    folds = []
    for start in range(0, len(keys), 500):
        part = list(keys)[start : start + 500]
        for pk, external_id, variants in Product.objects.filter(
            store=store, external_id__in=part
        ).values_list("pk", "external_id", "variants"):
            alias = keys[external_id]
            target = owned[alias]
            if pk == target or variants:
                continue
            is_sku = kinds[alias] == "sku"
            folds.append(
                Fold(
                    source_id=pk,
                    target_id=target,
                    sku=alias if is_sku else "",
                    variant_id=variant_of_sku.get(alias, "") if is_sku else alias,
                )
            )
    return tuple(sorted(folds, key=lambda f: f.source_id))


def _named(
    store: Store, shared: list[tuple[str, set[int]]]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    ids = {pk for _, owners in shared for pk in owners}
    names = dict(Product.objects.filter(store=store, pk__in=ids).values_list("pk", "external_id"))
    return tuple(
        (alias, tuple(sorted(names[pk] for pk in owners if pk in names)))
        for alias, owners in sorted(shared)
    )


def shared_aliases(*, store: Store) -> list[str]:
    """The SKUs (and variant ids) the variants of more than one of `store`'s products
    carry: they name no product, so lines keyed by them stay on products of their own."""
    return list(
        ProductAlias.objects.filter(store=store, product__isnull=True)
        .order_by("alias")
        .values_list("alias", flat=True)
    )


def delete_folded(*, store: Store, product_ids: Iterable[int]) -> int:
    """Delete `store`'s products `product_ids`, folded into others (their order and
    checkout lines moved first: orders protect their products); the rows the daily fit
    made of them go with them. Return how many were deleted."""
    ids = list(product_ids)
    if not ids:
        return 0
    deleted = Product.objects.filter(bulk.id_in("pk", ids), store=store).delete()[1]
    return deleted.get(Product._meta.label, 0)
