"""Normalized order data, as every source (CSV, API, platform webhooks) delivers it."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from aftersale.customers.records import CustomerRecord


@dataclass(frozen=True, slots=True)
class LineItemRecord:
    product_external_id: str
    quantity: int
    unit_price: Decimal
    product_name: str = ""
    category: str = ""
    # The variant bought (its platform id) and its SKU, "" when the source has none: the
    # line stays a line of its product, which recommendations work on.
    variant_id: str = ""
    sku: str = ""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    external_id: str
    customer: CustomerRecord
    placed_at: dt.datetime
    line_items: tuple[LineItemRecord, ...] = ()
    total: Decimal | None = None
    currency: str = "USD"
    discount_codes: tuple[str, ...] = ()
    paid_at: dt.datetime | None = None
    fulfilled_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    refunded_at: dt.datetime | None = None
    refunded_total: Decimal | None = None
    cancelled_at: dt.datetime | None = None
    payment_method: str = ""
    shipping_address: str = ""
    expected_delivery_on: dt.date | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def computed_total(self) -> Decimal:
        return lines_total(self.line_items) if self.total is None else self.total


@dataclass(frozen=True, slots=True)
class CheckoutRecord:
    """A checkout as the store reports it; `order_external_id` names the order that
    completed it, when the store says."""

    external_id: str
    customer: CustomerRecord
    started_at: dt.datetime
    line_items: tuple[LineItemRecord, ...]
    total: Decimal | None = None
    currency: str = "USD"
    recovery_url: str = ""
    completed_at: dt.datetime | None = None
    order_external_id: str = ""

    @property
    def computed_total(self) -> Decimal:
        return lines_total(self.line_items) if self.total is None else self.total


def lines_total(line_items: tuple[LineItemRecord, ...]) -> Decimal:
    """What the lines add up to."""
    return sum((li.unit_price * li.quantity for li in line_items), Decimal("0"))
