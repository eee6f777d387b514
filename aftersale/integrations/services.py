"""The single door every source (JSON API, CSV import, platform webhooks) delivers data through."""

import datetime as dt
from collections.abc import Sequence

from django.db import transaction

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.flows import services as flows
from aftersale.orders.records import OrderRecord
from aftersale.orders.services import IngestResult, ingest_orders
from aftersale.stores.models import Store


def receive_orders(
    *, store: Store, records: Sequence[OrderRecord], now: dt.datetime
) -> IngestResult:
    """Store `records` idempotently and let the flows react to every order that was created
    or changed, all or nothing: an order is never stored without its flows having seen it."""
    with transaction.atomic():
        result = ingest_orders(store=store, records=records, now=now)
        changed = [*result.created, *result.updated]
        if changed:
            flows.process_orders(store=store, order_ids=changed, now=now)
    return result


def receive_products(*, store: Store, records: Sequence[ProductRecord]) -> dict[str, int]:
    """Create or update the catalog entries of `records`; return the product id for every
    external id given (blank fields keep what the catalog already has)."""
    with transaction.atomic():
        return upsert_products(store=store, records=records)
