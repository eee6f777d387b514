"""One product per product, whether it came by an order export or by the shop's catalog.

A Shopify order export keys its lines by SKU; the webhooks and the catalog sync by the
product's id. When the catalog tells a product's variants (a products webhook, the
catalog sync), their SKUs and ids become aliases of it (catalog.aliases), and each
product an import created under one of them is folded into it, in the catalog write's
transaction: its order and checkout lines moved to it (one UPDATE per table and batch),
the merchant's rules and the recipients' answers moved, the store's fit made due (the
picks and pairs are rebuilt on the moved lines), and the SKU's product deleted. A second
delivery of the same catalog finds nothing to fold. A SKU two products carry folds
nothing and is reported (logged, and listed by catalog.aliases.shared_aliases).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from aftersale.catalog.aliases import delete_folded, record_aliases
from aftersale.catalog.records import ProductRecord
from aftersale.orders.services import ProductMove, move_product_lines
from aftersale.recommendations.services import move_product_rules
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoldReport:
    """What a catalog write folded: the products folded away, the order lines moved,
    and the aliases carried by several products (alias, their external ids)."""

    products: int = 0
    lines: int = 0
    shared: tuple[tuple[str, tuple[str, ...]], ...] = ()


def fold_aliased_products(*, store: Store, records: Sequence[ProductRecord]) -> FoldReport:
    """Record the aliases of the products `records` describe (written already) and fold
    into each the products keyed by one of its SKUs or variant ids, all or nothing."""
    with transaction.atomic():
        found = record_aliases(store=store, records=records)
        for alias, products in found.shared:
            logger.warning(
                "store %s: SKU %s is a variant of products %s: nothing folded under it",
                store.slug,
                alias,
                ", ".join(products),
            )
        if not found.folds:
            return FoldReport(shared=found.shared)
        lines = move_product_lines(
            store=store,
            moves=[
                ProductMove(f.source_id, f.target_id, sku=f.sku, variant_id=f.variant_id)
                for f in found.folds
            ],
        )
        move_product_rules(store=store, moves={f.source_id: f.target_id for f in found.folds})
        folded = delete_folded(store=store, product_ids=[f.source_id for f in found.folds])
    return FoldReport(products=folded, lines=lines, shared=found.shared)
