"""Writing orders: idempotent on the store's order id, tolerant of events out of order."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Case, F, Value, When

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import ensure_products
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import upsert_customers
from aftersale.lib import bulk
from aftersale.orders.models import Checkout, CheckoutLine, LineItem, Order, OrderStatus
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord
from aftersale.stores.models import Store

# Later lifecycle stages win, whatever order the events arrive in.
_LIFECYCLE = [
    ("cancelled_at", OrderStatus.CANCELLED),
    ("refunded_at", OrderStatus.REFUNDED),
    ("delivered_at", OrderStatus.DELIVERED),
    ("fulfilled_at", OrderStatus.FULFILLED),
]
_CUSTOMER_TEXT = ["email", "first_name", "last_name", "time_zone", "locale", "birthday"]
_CENT = Decimal("0.01")
_INSERT_BATCH = 10_000
_TIMESTAMPS = ["fulfilled_at", "delivered_at", "refunded_at", "cancelled_at"]
# Details a later update may fill in (the carrier's date arrives with fulfilment).
_DETAILS = ["payment_method", "shipping_address", "expected_delivery_on"]


@dataclass
class IngestResult:
    """What an ingest did: ids of the orders (or checkouts) it created and of those it
    updated, and how many it left as they were."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0

    def merge(self, other: IngestResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass
class IngestMemo:
    """What the earlier batches of one long ingest (a history import) wrote: each
    customer's record as upserted with its id, and the products' ids, so that later
    batches skip the customers and products they name again. At most LIMIT of each."""

    LIMIT = 200_000
    customers: dict[str, tuple[CustomerRecord, int]] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)

    def customer_ids(
        self, records: list[CustomerRecord]
    ) -> tuple[dict[str, int], list[CustomerRecord]]:
        """The ids of the customers upserted before exactly as `records` has them, and
        the records still to upsert."""
        known, rest = {}, []
        for record in records:
            seen = self.customers.get(record.external_id)
            if seen is not None and seen[0] == record:
                known[record.external_id] = seen[1]
            else:
                rest.append(record)
        return known, rest

    def remember(
        self, customers: list[CustomerRecord], ids: dict[str, int], products: dict[str, int]
    ) -> None:
        """Keep what a batch wrote (forgetting everything once over LIMIT)."""
        if len(self.customers) > self.LIMIT:
            self.customers.clear()
        if len(self.products) > self.LIMIT:
            self.products.clear()
        self.customers.update((c.external_id, (c, ids[c.external_id])) for c in customers)
        self.products.update(products)


def ingest_orders(
    *,
    store: Store,
    records: Sequence[OrderRecord],
    now: dt.datetime,
    memo: IngestMemo | None = None,
) -> IngestResult:
    """Store `records`: a new order is created with its line items; an order seen before
    only gains the lifecycle timestamps it did not have (line items are never doubled).
    `memo`, kept from batch to batch of one import, spares writing again the customers
    and products an earlier batch wrote as they are."""
    records = list({r.external_id: r for r in records}.values())
    try:
        with transaction.atomic():
            return _ingest(store, records, now, memo)
    except IntegrityError:
        # Another process created some of these orders between our read and our insert;
        # one at a time, each sees the other's rows.
        result = IngestResult()
        for record in records:
            with transaction.atomic():
                result.merge(_ingest(store, [record], now))
        return result


def order_status(order: Order) -> str:
    """The status implied by the order's lifecycle timestamps."""
    for attribute, status in _LIFECYCLE:
        if getattr(order, attribute) is not None:
            return status
    return order.status if order.status == OrderStatus.PAID else OrderStatus.PLACED


def _ingest(
    store: Store, records: list[OrderRecord], now: dt.datetime, memo: IngestMemo | None = None
) -> IngestResult:
    # The ids first (one plain query, no instance per row): a history import's orders
    # are nearly all new, and only the known ones are loaded to be merged.
    known = bulk.ids_by_key(
        model=Order, key="external_id", values=[r.external_id for r in records], store_id=store.pk
    )
    existing = (
        {o.external_id: o for o in Order.objects.filter(bulk.id_in("pk", known.values()))}
        if known
        else {}
    )
    result = IngestResult()
    updates = [o for r in records if (o := existing.get(r.external_id)) and _merge(o, r)]
    if updates:
        Order.objects.bulk_update(
            updates, ["status", "refunded_total", *_TIMESTAMPS, *_DETAILS], batch_size=500
        )
    result.updated = [o.pk for o in updates]
    result.unchanged = len(existing) - len(updates)
    new_records = [r for r in records if r.external_id not in existing]
    if new_records:
        result.created = _create(store, new_records, now, memo)
    return result


def _create(
    store: Store, records: list[OrderRecord], now: dt.datetime, memo: IngestMemo | None
) -> list[int]:
    memo = memo or IngestMemo()
    customer_ids, customers = memo.customer_ids(_customers(records))
    if customers:
        customer_ids.update(upsert_customers(store=store, records=customers, now=now))
    # A record is made only for a product no earlier batch wrote (most are known).
    items = {li.product_external_id: li for r in records for li in r.line_items}
    product_ids = {eid: i for eid in items if (i := memo.products.get(eid))}
    missing = [_product(li) for eid, li in items.items() if eid not in product_ids]
    if missing:
        product_ids.update(ensure_products(store=store, records=missing))
    memo.remember(customers, customer_ids, product_ids)
    order_ids = _insert_orders(store, records, customer_ids)
    _insert_line_items(store, order_ids, records, product_ids)
    return order_ids


# The columns of a new order, in the order _insert_orders gives them.
_ORDER_FIELDS = [
    "store",
    "external_id",
    "customer",
    "status",
    "currency",
    "total",
    "discount_codes",
    "refunded_total",
    "payment_method",
    "shipping_address",
    "expected_delivery_on",
    "placed_at",
    *_TIMESTAMPS,
]


def _insert_orders(
    store: Store, records: list[OrderRecord], customer_ids: dict[str, int]
) -> list[int]:
    """INSERT the orders of `records` (none of them stored yet) and return their ids, in
    order. Each order is a tuple of plain values (no Order instance: preparing each
    value of each row through its field was most of a history import's time), written
    by executemany; the ids are read back by one query per few thousand orders."""
    moment = bulk.datetime_adapter(Order)
    amount = bulk.decimal_adapter(Order)
    codes_field = Order._meta.get_field("discount_codes")
    connection = connections[router.db_for_write(Order)]
    codes: dict[tuple[str, ...], Any] = {}  # most orders share a few lists (mostly none)

    def stamp(value: dt.datetime | None) -> Any:
        return None if value is None else moment(value)

    rows, store_id = [], store.pk
    for record in records:
        listed = codes.get(record.discount_codes)
        if listed is None:
            listed = codes.setdefault(
                record.discount_codes,
                codes_field.get_db_prep_save(list(record.discount_codes), connection=connection),
            )
        delivery_on = record.expected_delivery_on
        rows.append(
            (
                store_id,
                record.external_id,
                customer_ids[record.customer.external_id],
                _record_status(record),
                record.currency,
                amount(record.computed_total),
                listed,
                amount(record.refunded_total or Decimal("0")),
                record.payment_method,
                record.shipping_address,
                None if delivery_on is None else connection.ops.adapt_datefield_value(delivery_on),
                moment(record.placed_at),
                *(stamp(getattr(record, name)) for name in _TIMESTAMPS),
            )
        )
    bulk.insert_rows(model=Order, fields=_ORDER_FIELDS, rows=rows)
    ids = bulk.ids_by_key(
        model=Order, key="external_id", values=[r.external_id for r in records], store_id=store.pk
    )
    return [ids[r.external_id] for r in records]


def _record_status(record: OrderRecord) -> str:
    """The status a new order of `record` starts in (as order_status reads it)."""
    for attribute, status in _LIFECYCLE:
        if getattr(record, attribute) is not None:
            return status
    return OrderStatus.PAID if record.paid_at else OrderStatus.PLACED


def _customers(records: list[OrderRecord]) -> list[CustomerRecord]:
    """One record per customer; a blank field of one order does not erase what another
    order of the same batch says (as it would not across batches)."""
    merged: dict[str, CustomerRecord] = {}
    for record in records:
        customer, seen = record.customer, merged.get(record.customer.external_id)
        if seen is not None and seen != customer:
            customer = dataclasses.replace(
                customer,
                **{
                    name: getattr(seen, name)
                    for name in _CUSTOMER_TEXT
                    if not getattr(customer, name)
                },
            )
        merged[customer.external_id] = customer
    return list(merged.values())


def line_item_products(records: Sequence[OrderRecord | CheckoutRecord]) -> list[ProductRecord]:
    """The products the records' line items name, one record per product."""
    items = {li.product_external_id: li for r in records for li in r.line_items}
    return [_product(li) for li in items.values()]


def _product(li: LineItemRecord) -> ProductRecord:
    """The product a line item names, as the line describes it."""
    return ProductRecord(
        li.product_external_id, li.product_name, category=li.category, price=li.unit_price
    )


def _insert_line_items(
    store: Store, order_ids: list[int], records: list[OrderRecord], product_ids: dict[str, int]
) -> None:
    # Line items are the bulk of a history import (millions of rows); building a model
    # instance per row made bulk_create take most of the load time, so rows go straight
    # to one parameterised INSERT run by executemany.
    store_id = store.pk  # once: a property, read per row it showed in the profile
    amount = bulk.decimal_adapter(LineItem)
    rows = [
        (
            store_id,
            order_id,
            product_ids[li.product_external_id],
            li.quantity,
            amount(price := money(li.unit_price)),
            amount(money(price * li.quantity)),
            li.variant_id[:100],
            li.sku[:100],
        )
        for order_id, record in zip(order_ids, records, strict=True)
        for li in record.line_items
    ]
    bulk.insert_rows(
        model=LineItem,
        fields=[
            "store",
            "order",
            "product",
            "quantity",
            "unit_price",
            "total",
            "variant_id",
            "sku",
        ],
        rows=rows,
    )


def money(amount: Decimal) -> Decimal:
    """`amount` to the cent, as a DecimalField with two places stores it."""
    return amount.quantize(_CENT)


def _merge(order: Order, record: OrderRecord) -> bool:
    """Fill in lifecycle timestamps and details the stored order lacks; True when it
    changed."""
    changed = False
    for name in [*_TIMESTAMPS, *_DETAILS]:
        value = getattr(record, name)
        if value not in (None, "") and getattr(order, name) in (None, ""):
            setattr(order, name, value)
            changed = True
    if record.refunded_total is not None and record.refunded_total > order.refunded_total:
        order.refunded_total = record.refunded_total  # refunds only add up
        changed = True
    if record.paid_at and order.status == OrderStatus.PLACED:
        order.status = OrderStatus.PAID
        changed = True
    status = order_status(order)
    if status != order.status:
        order.status = status
        changed = True
    return changed


def raise_refunded_total(*, store: Store, external_id: str, refunded_total: Decimal) -> int | None:
    """Raise the refunded total of `store`'s order `external_id` to `refunded_total`
    (refunds only add up: never lowered) and its status with it; the order's id when it
    changed, None when there is no such order or it was refunded that much already."""
    order = Order.objects.filter(store=store, external_id=external_id).first()
    if order is None or money(refunded_total) <= order.refunded_total:
        return None
    order.refunded_total = money(refunded_total)
    order.status = order_status(order)
    order.save(update_fields=["refunded_total", "status"])
    return order.pk


def erase_customer_orders(*, customer_id: int) -> None:
    """Remove the personal details of the customer's orders and checkouts (shipping
    address, payment method, recovery link); what they bought and paid stays, as the
    reports count it."""
    Order.objects.filter(customer_id=customer_id).update(shipping_address="", payment_method="")
    Checkout.objects.filter(customer_id=customer_id).update(recovery_url="")


def record_fulfillment(
    *,
    store: Store,
    external_id: str,
    fulfilled_at: dt.datetime,
    delivered_at: dt.datetime | None,
) -> int | None:
    """Fill in when `store`'s order `external_id` was fulfilled and delivered (only the
    moments it lacks: never moved once set) and its status with them; the order's id
    when it changed, None when there is no such order or nothing was new."""
    order = Order.objects.filter(store=store, external_id=external_id).first()
    if order is None:
        return None
    changed = []
    for name, value in (("fulfilled_at", fulfilled_at), ("delivered_at", delivered_at)):
        if value is not None and getattr(order, name) is None:
            setattr(order, name, value)
            changed.append(name)
    if not changed:
        return None
    order.status = order_status(order)
    order.save(update_fields=[*changed, "status"])
    return order.pk


def cancel_order(*, store: Store, external_id: str, cancelled_at: dt.datetime) -> int | None:
    """Cancel `store`'s order `external_id` at `cancelled_at` unless it is cancelled
    already (the first moment stays); the order's id when it changed, None when there
    is no such order or it was cancelled already."""
    order = Order.objects.filter(store=store, external_id=external_id).first()
    if order is None or order.cancelled_at is not None:
        return None
    order.cancelled_at = cancelled_at
    order.status = order_status(order)
    order.save(update_fields=["cancelled_at", "status"])
    return order.pk


@dataclass(frozen=True, slots=True)
class ProductMove:
    """The lines of product `source_id` become lines of product `target_id`, of its
    variant `variant_id` (SKU `sku`) where a line names none ("" leaves it)."""

    source_id: int
    target_id: int
    sku: str = ""
    variant_id: str = ""


def move_product_lines(*, store: Store, moves: Sequence[ProductMove]) -> int:
    """Make every order line and checkout line of `store` on a `moves` source product a
    line of its target (quantities, prices and totals as they are, so revenue and
    refunds do not change), filling in the variant and SKU a line lacks; one UPDATE per
    table and few hundred products. Return how many order lines moved."""
    moved = 0
    for start in range(0, len(moves), 300):
        part = moves[start : start + 300]
        sources = [m.source_id for m in part]
        product = Case(*(When(product_id=m.source_id, then=Value(m.target_id)) for m in part))
        moved += LineItem.objects.filter(bulk.id_in("product_id", sources), store=store).update(
            product_id=product,
            variant_id=Case(
                *(
                    When(product_id=m.source_id, variant_id="", then=Value(m.variant_id[:100]))
                    for m in part
                ),
                default=F("variant_id"),
            ),
            sku=Case(
                *(When(product_id=m.source_id, sku="", then=Value(m.sku[:100])) for m in part),
                default=F("sku"),
            ),
        )
        CheckoutLine.objects.filter(
            bulk.id_in("product_id", sources), checkout__store=store
        ).update(product_id=product)
    return moved
