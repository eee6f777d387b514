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
    cancelled_at: dt.datetime | None = None
    payment_method: str = ""
    shipping_address: str = ""
    expected_delivery_on: dt.date | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def computed_total(self) -> Decimal:
        if self.total is not None:
            return self.total
        return sum((li.unit_price * li.quantity for li in self.line_items), Decimal("0"))
