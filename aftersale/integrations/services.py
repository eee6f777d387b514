"""The single door every source (JSON API, CSV import, platform webhooks) delivers data through."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from aftersale.attribution.services import attribute_orders
from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import product_ids, upsert_products
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import upsert_customers
from aftersale.flows import services as flows
from aftersale.integrations.product_folds import fold_aliased_products
from aftersale.orders.checkouts import complete_checkouts, has_open_checkouts, ingest_checkouts
from aftersale.orders.models import Order
from aftersale.orders.records import CheckoutRecord, OrderRecord
from aftersale.orders.services import (
    IngestMemo,
    IngestResult,
    ingest_orders,
    raise_refunded_total,
)
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.services import record_customer_event

PRODUCT_VIEWED = "product_viewed"


class InvalidEvent(ValueError):
    """A posted event that cannot be recorded; `field` is the path of the bad field
    within the event, e.g. ("properties", "product_id")."""

    def __init__(self, message: str, *, field: tuple[str, ...]) -> None:
        super().__init__(message)
        self.field = field


def receive_orders(
    *,
    store: Store,
    records: Sequence[OrderRecord],
    now: dt.datetime,
    journeys_from: dt.datetime | None = None,
    memo: IngestMemo | None = None,
) -> IngestResult:
    """Store `records` idempotently, complete the open checkouts new orders follow,
    credit every order that was created or changed to the email that earned it, and let
    the flows react to it, all or nothing: an order is never stored without its flows
    having seen it. With `journeys_from` (a history backfill: when the import or the
    connection started), orders placed before it start no journeys; they still end the
    journeys they exit and redeem their coupons. `memo` (orders.services.IngestMemo),
    kept across the batches of one import, spares re-writing their customers and products."""
    with transaction.atomic():
        result = ingest_orders(store=store, records=records, now=now, memo=memo)
        completed = (
            complete_checkouts(orders=list(Order.objects.filter(pk__in=result.created)))
            if result.created and has_open_checkouts(order_ids=result.created)
            else []
        )
        changed = [*result.created, *result.updated]
        if changed:
            attribute_orders(store=store, order_ids=changed)
            flows.process_orders(store=store, order_ids=changed, now=now, enroll_from=journeys_from)
        if completed:
            flows.exit_completed_checkouts(store=store, checkout_ids=completed, now=now)
    return result


def receive_refunded_total(
    *, store: Store, external_id: str, refunded_total: Decimal, now: dt.datetime
) -> bool:
    """Raise order `external_id`'s refunded total to `refunded_total` (never lower it)
    and, when it changed, credit it again and let the flows react, as receive_orders
    does; False when the order is unknown or was refunded that much already."""
    with transaction.atomic():
        order_id = raise_refunded_total(
            store=store, external_id=external_id, refunded_total=refunded_total
        )
        if order_id is None:
            return False
        attribute_orders(store=store, order_ids=[order_id])
        flows.process_orders(store=store, order_ids=[order_id], now=now)
    return True


def receive_checkouts(
    *, store: Store, records: Sequence[CheckoutRecord], now: dt.datetime
) -> IngestResult:
    """Store `records` idempotently and end the checkout recovery journeys of those now
    completed. Abandoned ones start flows later, in the worker's periodic pass."""
    with transaction.atomic():
        result = ingest_checkouts(store=store, records=records, now=now)
        changed = [*result.created, *result.updated]
        if changed:
            flows.exit_completed_checkouts(store=store, checkout_ids=changed, now=now)
    return result


def receive_event(
    *,
    store: Store,
    customer: CustomerRecord,
    name: str,
    occurred_at: dt.datetime,
    properties: dict[str, Any],
    now: dt.datetime,
) -> Event:
    """Record one event the store posted and start the flows it triggers, all or nothing.
    `product_viewed` names the store's product id in properties.product_id (a missing or
    unknown one raises InvalidEvent naming that field, and nothing is stored); any other
    name is a custom event."""
    with transaction.atomic():
        if name == PRODUCT_VIEWED:
            kind, data = EventKind.PRODUCT_VIEWED, _product_view(store, properties)
        else:
            kind, data = EventKind.CUSTOM, {"name": name, "properties": properties}
        customer_id = upsert_customers(store=store, records=[customer], now=now)[
            customer.external_id
        ]
        event = record_customer_event(
            store=store, customer_id=customer_id, kind=kind, occurred_at=occurred_at, data=data
        )
        flows.process_events(store=store, event_ids=[event.pk], now=now)
    return event


def receive_customers(
    *, store: Store, records: Sequence[CustomerRecord], now: dt.datetime
) -> dict[str, int]:
    """Create or update the customers of `records` (a withdrawn consent is always
    applied); return the customer id for every external id given."""
    with transaction.atomic():
        return upsert_customers(store=store, records=records, now=now)


def receive_products(*, store: Store, records: Sequence[ProductRecord]) -> dict[str, int]:
    """Create or update the catalog entries of `records`; return the product id for every
    external id given (blank fields keep what the catalog already has). The products an
    import created under one of their variants' SKUs are folded into them
    (integrations.product_folds), in the same transaction."""
    with transaction.atomic():
        ids = upsert_products(store=store, records=records)
        fold_aliased_products(store=store, records=records)
        return ids


def _product_view(store: Store, properties: dict[str, Any]) -> dict[str, Any]:
    external_id = properties.get("product_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id:
        raise InvalidEvent(
            "product_viewed needs the store's product id", field=("properties", "product_id")
        )
    known = product_ids(store=store, external_ids=[external_id])
    if external_id not in known:
        raise InvalidEvent(f"unknown product {external_id!r}", field=("properties", "product_id"))
    return {"product_id": known[external_id], "product": external_id, "properties": properties}
