"""Writing checkouts: idempotent on the store's checkout id; completed by the store's word
or by the customer's next order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction

from aftersale.catalog.services import ensure_products
from aftersale.customers.services import upsert_customers
from aftersale.lib import bulk
from aftersale.orders.models import Checkout, CheckoutLine, Order
from aftersale.orders.records import CheckoutRecord
from aftersale.orders.services import IngestResult, line_item_products, money
from aftersale.stores.models import Store


def ingest_checkouts(
    *, store: Store, records: Sequence[CheckoutRecord], now: dt.datetime
) -> IngestResult:
    """Store `records`: a new checkout is created with its lines; one seen before gains
    what it lacked (completion, its order, the recovery link) and, while still open,
    takes the lines and total sent (a cart changes until it is paid). An open checkout
    whose customer already placed an order after starting it is completed by that order,
    as it would have been had the order come second. Sending the same checkout again
    changes nothing."""
    records = list({r.external_id: r for r in records}.values())
    result = IngestResult()
    with transaction.atomic():
        customer_ids = upsert_customers(store=store, records=[r.customer for r in records], now=now)
        product_ids = ensure_products(store=store, records=line_item_products(records))
        named = [r.order_external_id for r in records if r.order_external_id]
        orders = {
            o.external_id: o for o in Order.objects.filter(store=store, external_id__in=named)
        }
        for record in records:
            checkout, created = Checkout.objects.get_or_create(
                store=store,
                external_id=record.external_id,
                defaults={
                    "customer_id": customer_ids[record.customer.external_id],
                    "started_at": record.started_at,
                    "currency": record.currency,
                },
            )
            completed_by = orders.get(record.order_external_id) or _order_after(checkout, record)
            if _merge(checkout, record, product_ids, completed_by, new=created):
                (result.created if created else result.updated).append(checkout.pk)
            else:
                result.unchanged += 1
    return result


def _order_after(checkout: Checkout, record: CheckoutRecord) -> Order | None:
    """The customer's first order placed at or after the open `checkout` started (the
    order that completes it, when the order arrived first); None when closed or none."""
    if checkout.completed_at is not None or record.completed_at is not None:
        return None
    return (
        Order.objects.filter(customer_id=checkout.customer_id, placed_at__gte=checkout.started_at)
        .order_by("placed_at", "pk")
        .first()
    )


def has_open_checkouts(*, order_ids: Sequence[int]) -> bool:
    """Whether a customer of the orders `order_ids` has a checkout still open (when none
    has, which is a history import's case, the orders need not be loaded to complete
    any). One query, by customer."""
    customers = Order.objects.filter(bulk.id_in("pk", order_ids)).values("customer_id")
    return Checkout.objects.filter(customer_id__in=customers, completed_at__isnull=True).exists()


def complete_checkouts(*, orders: Sequence[Order]) -> list[int]:
    """Mark the open checkouts that `orders` follow (same customer, started before the
    order was placed) completed by them; return the checkouts' ids. One query when the
    customers have no open checkout, which is the common case."""
    by_customer: dict[int, list[Order]] = {}
    for order in sorted(orders, key=lambda o: o.placed_at):
        by_customer.setdefault(order.customer_id, []).append(order)
    open_checkouts = Checkout.objects.filter(customer_id__in=by_customer, completed_at__isnull=True)
    completed = []
    for checkout in open_checkouts:
        completing = next(
            (o for o in by_customer[checkout.customer_id] if o.placed_at >= checkout.started_at),
            None,
        )
        if completing is not None:
            checkout.completed_at, checkout.order = completing.placed_at, completing
            checkout.save(update_fields=["completed_at", "order"])
            completed.append(checkout.pk)
    return completed


def _merge(
    checkout: Checkout,
    record: CheckoutRecord,
    product_ids: dict[str, int],
    completed_by: Order | None,
    *,
    new: bool,
) -> bool:
    """Bring `checkout` up to date with `record`; True when anything changed."""
    changed = new
    if checkout.completed_at is None and record.completed_at is not None:
        checkout.completed_at = record.completed_at
        changed = True
    if checkout.completed_at is None and completed_by is not None:
        checkout.completed_at = completed_by.placed_at
        changed = True
    if checkout.order_id is None and completed_by is not None:
        checkout.order = completed_by
        changed = True
    if not checkout.recovery_url and record.recovery_url:
        checkout.recovery_url = record.recovery_url
        changed = True
    lines = [
        (product_ids[li.product_external_id], li.quantity, money(li.unit_price))
        for li in record.line_items
    ]
    if checkout.completed_at is None or new:
        changed |= _replace_lines(checkout, lines, total=money(record.computed_total))
    if changed:
        checkout.save()
    return changed


def _replace_lines(
    checkout: Checkout, lines: list[tuple[int, int, Decimal]], *, total: Decimal
) -> bool:
    stored = list(checkout.lines.order_by("id").values_list("product_id", "quantity", "unit_price"))
    if stored == lines and checkout.total == total:
        return False
    checkout.lines.all().delete()
    CheckoutLine.objects.bulk_create(
        [
            CheckoutLine(checkout=checkout, product_id=product, quantity=quantity, unit_price=price)
            for product, quantity, price in lines
        ]
    )
    checkout.total = total
    return True
