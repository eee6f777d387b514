"""Building orders and flows for flow tests through the real services."""

import datetime as dt
from decimal import Decimal

from aftersale.customers.records import CustomerRecord
from aftersale.messaging.models import EmailTemplate, TemplateKind
from aftersale.orders.checkouts import ingest_checkouts
from aftersale.orders.models import Order
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store


def place_order(
    store: Store,
    *,
    order_id: str,
    customer: str,
    at: dt.datetime,
    total: str = "20.00",
    codes: tuple[str, ...] = (),
    product: str = "milk",
) -> Order:
    """Ingest one order of one line for `customer` (created on first use)."""
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(
            external_id=customer, email=f"{customer}@example.com", first_name=customer.title()
        ),
        placed_at=at,
        line_items=(LineItemRecord(product, 1, Decimal(total), product_name=product.title()),),
        discount_codes=codes,
    )
    result = ingest_orders(store=store, records=[record], now=at)
    return Order.objects.get(pk=(result.created or result.updated)[0])


def start_checkout(
    store: Store, *, checkout_id: str, customer: str, at: dt.datetime, total: str = "20.00"
) -> None:
    """Ingest one checkout of one line for `customer` (created on first use)."""
    record = CheckoutRecord(
        external_id=checkout_id,
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        started_at=at,
        line_items=(LineItemRecord("milk", 1, Decimal(total), product_name="Milk"),),
    )
    ingest_checkouts(store=store, records=[record], now=at)


def add_templates(store: Store, now: dt.datetime, *slugs: str) -> None:
    """Minimal templates with the given slugs (rendering is tested in messaging)."""
    for slug in slugs:
        EmailTemplate.objects.create(
            store=store,
            slug=slug,
            name=slug,
            kind=TemplateKind.THANK_YOU,
            subject=f"{slug} for {{{{ customer.first_name }}}}",
            body_mjml="<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text>"
            "</mj-column></mj-section></mj-body></mjml>",
            updated_at=now,
        )


def upsell_definition(*, exit_when: tuple[str, ...] = ("purchased_again",)) -> dict:
    """Seed 001's three messages, without recommendations."""
    return {
        "name": "Upsell",
        "trigger": {"event": "first_purchase"},
        "exit_when": list(exit_when),
        "coupon": {"kind": "percent", "amount": "15", "valid_days": 14},
        "steps": [
            {"type": "delay", "hours": 1},
            {"type": "email", "template": "thank-you"},
            {"type": "delay", "days": 3},
            {"type": "email", "template": "offer", "coupon": "issue"},
            {"type": "delay", "days": 4},
            {
                "type": "email",
                "template": "reminder",
                "coupon": "remind",
                "skip_if": ["purchased_since_entry", "coupon_redeemed"],
            },
        ],
    }
