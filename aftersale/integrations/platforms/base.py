"""What every shop platform's webhooks go through, in a fixed sequence (anymail-style):
verify the signature of the raw body → read the headers into a Delivery → check the
payload → store it (answered at once) → later, in a worker: process it.

A platform fills in the steps: its signature check, its header names and its topics
(class-level dicts), and one reader per normalized DeliveryKind it handles, turning the
payload into records (orders.records) or raising InvalidPayload with the field path."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from aftersale.catalog.records import ProductRecord
from aftersale.customers.records import CustomerRecord
from aftersale.orders.records import CheckoutRecord, OrderRecord


class DeliveryKind(enum.StrEnum):
    """What a delivery means, whichever platform sent it."""

    ORDER_UPSERTED = "order_upserted"
    ORDER_CANCELLED = "order_cancelled"
    REFUND = "refund"
    FULFILLMENT = "fulfillment"
    # A fulfillments/* delivery: the fulfillment resource itself (not the order).
    SHIPMENT = "shipment"
    # An order deleted in the shop (WooCommerce's order.deleted: {"id": …} only).
    ORDER_DELETED = "order_deleted"
    CUSTOMER_CONSENT = "customer_consent"
    PRODUCT_UPSERTED = "product_upserted"
    PRODUCT_DELETED = "product_deleted"
    CHECKOUT = "checkout"
    DATA_REQUEST = "data_request"
    CUSTOMER_REDACT = "customer_redact"
    SHOP_REDACT = "shop_redact"


# The privacy requests: applied whatever was applied before (they carry no version).
PRIVACY_KINDS = frozenset(
    {DeliveryKind.DATA_REQUEST, DeliveryKind.CUSTOMER_REDACT, DeliveryKind.SHOP_REDACT}
)
# The version of a change that has none (a privacy request).
NO_VERSION = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The version of a deleted resource: newer than any update, which then changes nothing.
DELETED_VERSION = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


class InvalidSignature(Exception):
    """A delivery whose signature is missing or does not match the store's secret."""


class InvalidPayload(ValueError):
    """A delivery that cannot be read; `field` is the path of the bad field, e.g.
    "line_items[0].price" ("" for the whole body)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request as the platform's headers describe it."""

    platform: str
    topic: str
    kind: DeliveryKind | None
    event_id: str
    webhook_id: str
    shop_domain: str
    api_version: str
    triggered_at: dt.datetime | None
    body: bytes

    @property
    def dedup_key(self) -> str:
        """The same for every retry of one event: the event id, else the webhook id,
        else the body's SHA-256."""
        if self.event_id:
            return f"event:{self.event_id}"
        if self.webhook_id:
            return f"webhook:{self.webhook_id}"
        return f"body:{hashlib.sha256(self.body).hexdigest()}"


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """One refund of an order: its id, the order's id and the amount refunded (in the
    order's currency)."""

    refund_id: str
    order_external_id: str
    amount: Decimal
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FulfillmentRecord:
    """One fulfillment (shipment) of an order: its id, the order's id, when it was
    made and, once the carrier says so, when it was delivered."""

    fulfillment_id: str
    order_external_id: str
    fulfilled_at: dt.datetime
    delivered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What a delivery asks to apply: the version (`updated_at`) of resource `kind`
    `external_id`, and the records that say it."""

    kind: str
    external_id: str
    updated_at: dt.datetime
    orders: tuple[OrderRecord, ...] = field(default=())
    customers: tuple[CustomerRecord, ...] = field(default=())
    # The version of the customer an order embeds (its consent may be older than one
    # a customer topic applied already).
    customer_updated_at: dt.datetime | None = None
    # A privacy request: the customer it is about, and the platform's id of the request.
    subject: str = ""
    request_id: str = ""
    # The refunds the change tells of (a refund delivery's, or an order's refunds[]).
    refunds: tuple[RefundRecord, ...] = field(default=())
    # The fulfillments the change tells of (a fulfillments/* delivery's).
    fulfillments: tuple[FulfillmentRecord, ...] = field(default=())
    # The catalog entries the change tells of (a product delivery's).
    products: tuple[ProductRecord, ...] = field(default=())
    # The checkouts the change tells of (a checkout delivery's).
    checkouts: tuple[CheckoutRecord, ...] = field(default=())

    @property
    def customer_external_id(self) -> str:
        """The platform's id of the customer the change is about ("" for none)."""
        if self.subject:
            return self.subject
        if self.orders:
            return self.orders[0].customer.external_id
        return self.customers[0].external_id if self.customers else ""


class Platform:
    """A shop platform's webhooks. Subclasses set the class-level tables and implement
    `verify`; `readers` maps each DeliveryKind handled to the name of the method that
    reads its payload (a dict) into a Change."""

    name: ClassVar[str]
    # Delivery field → the header that carries it.
    headers: ClassVar[Mapping[str, str]]
    # The platform's topic → what it means; a topic not listed is answered and ignored.
    topics: ClassVar[Mapping[str, DeliveryKind]]
    readers: ClassVar[Mapping[DeliveryKind, str]]

    def is_ping(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the request only checks the URL answers (answered, nothing stored)."""
        return False

    def verify(self, *, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """Raise InvalidSignature unless `body` is signed with `secret`."""
        raise NotImplementedError

    def delivery(self, *, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """The Delivery the headers describe; InvalidPayload naming a missing topic."""
        values = {name: headers.get(header, "").strip() for name, header in self.headers.items()}
        if not values.get("topic"):
            raise InvalidPayload("missing", field=self.headers["topic"])
        return Delivery(
            platform=self.name,
            topic=values["topic"],
            kind=self.topics.get(values["topic"]),
            event_id=values.get("event_id", ""),
            webhook_id=values.get("webhook_id", ""),
            shop_domain=values.get("shop_domain", ""),
            api_version=values.get("api_version", ""),
            triggered_at=self.parse_time(values.get("triggered_at", "")),
            body=body,
        )

    def handles(self, kind: DeliveryKind | None) -> bool:
        """Whether this platform can read deliveries of `kind` yet."""
        return kind is not None and kind in self.readers

    def read(self, *, kind: DeliveryKind, body: bytes) -> Change:
        """The Change a delivery of `kind` with `body` asks for; InvalidPayload (with the
        field path) when the body is not JSON or lacks what the reader needs."""
        payload = parse_json(body)
        reader = getattr(self, self.readers[kind])
        change: Change = reader(payload)
        return change

    @staticmethod
    def parse_time(text: str) -> dt.datetime | None:
        """An ISO 8601 moment (with its offset) as an aware datetime; None for ""."""
        if not text:
            return None
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_json(body: bytes) -> dict[str, Any]:
    """The JSON object `body` holds; InvalidPayload when it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPayload(f"not JSON ({error})") from error
    if not isinstance(payload, dict):
        raise InvalidPayload("not a JSON object")
    return payload
