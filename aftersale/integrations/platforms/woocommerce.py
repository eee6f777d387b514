"""WooCommerce's webhooks: the base64 HMAC-SHA256 of the raw body under the webhook's
secret in X-WC-Webhook-Signature, its X-WC-Webhook-* headers, the order topics read from
WooCommerce's REST (v3) order resource into OrderRecords. The ping WooCommerce sends when
a webhook is saved (form-encoded `webhook_id=…`, unsigned) is answered and not stored.
A delivery is known by (webhook id, order id, date_modified): WooCommerce sends no
event id, and the same order saved twice without a change is the same delivery."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs

from aftersale.catalog.records import ProductRecord, VariantRecord
from aftersale.customers.records import CustomerRecord
from aftersale.integrations.platforms.base import (
    DELETED_VERSION,
    Change,
    Delivery,
    DeliveryKind,
    InvalidPayload,
    InvalidSignature,
    Platform,
    RefundRecord,
)
from aftersale.integrations.platforms.payload import (
    id_at,
    list_at,
    money_at,
    product_deleted,
    required_text,
    text_at,
    time_at,
)
from aftersale.orders.records import LineItemRecord, OrderRecord

SIGNATURE_HEADER = "X-WC-Webhook-Signature"


class WooCommerce(Platform):
    """WooCommerce's webhooks (REST API v3 payloads)."""

    name = "woocommerce"
    headers: ClassVar[Mapping[str, str]] = {
        "topic": "X-WC-Webhook-Topic",
        "webhook_id": "X-WC-Webhook-ID",
        "shop_domain": "X-WC-Webhook-Source",
    }
    topics: ClassVar[Mapping[str, DeliveryKind]] = {
        "order.created": DeliveryKind.ORDER_UPSERTED,
        "order.updated": DeliveryKind.ORDER_UPSERTED,
        "order.deleted": DeliveryKind.ORDER_DELETED,
        "product.created": DeliveryKind.PRODUCT_UPSERTED,
        "product.updated": DeliveryKind.PRODUCT_UPSERTED,
        "product.deleted": DeliveryKind.PRODUCT_DELETED,
        "customer.created": DeliveryKind.CUSTOMER_CONSENT,
        "customer.updated": DeliveryKind.CUSTOMER_CONSENT,
    }
    readers: ClassVar[Mapping[DeliveryKind, str]] = {
        DeliveryKind.ORDER_UPSERTED: "read_order",
        DeliveryKind.CUSTOMER_CONSENT: "read_customer",
        DeliveryKind.ORDER_DELETED: "read_order_deleted",
        DeliveryKind.PRODUCT_UPSERTED: "read_product",
        DeliveryKind.PRODUCT_DELETED: "read_product_deleted",
    }

    def is_ping(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        """The request WooCommerce sends when a webhook is saved: an unsigned,
        form-encoded `webhook_id=<id>` body without a topic."""
        if headers.get(SIGNATURE_HEADER) or headers.get(self.headers["topic"]):
            return False
        try:
            form = parse_qs(body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return False
        return list(form) == ["webhook_id"]

    def verify(self, *, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """The base64 HMAC-SHA256 of the raw `body` under `secret` must equal the
        X-WC-Webhook-Signature header (compared in constant time)."""
        given = headers.get(SIGNATURE_HEADER, "").strip()
        if not given or not secret:
            raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
        if not hmac.compare_digest(sign(body=body, secret=secret).encode(), given.encode()):
            raise InvalidSignature("the signature does not match the webhook's secret")

    def delivery(self, *, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """The Delivery, its event id (webhook id, resource id, date_modified) so that
        the same version of a resource sent again is a duplicate."""
        delivery = super().delivery(body=body, headers=headers)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return delivery
        if not isinstance(payload, dict) or "id" not in payload:
            return delivery
        modified = payload.get("date_modified_gmt") or payload.get("date_modified") or ""
        event = f"{delivery.webhook_id}:{payload['id']}:{modified}"[:100]
        return dataclasses.replace(delivery, event_id=event)

    def read_order(self, payload: dict[str, Any]) -> Change:
        """An order.* payload (WooCommerce's REST order resource) as a Change of the
        order at its date_modified_gmt."""
        record = order_record(payload)
        return Change(
            kind="order",
            external_id=record.external_id,
            updated_at=_gmt(payload, "date_modified_gmt", required=True) or record.placed_at,
            orders=(record,),
            refunds=tuple(
                RefundRecord(
                    refund_id=id_at(refund, "id", f"refunds[{i}]"),
                    order_external_id=record.external_id,
                    amount=abs(money_at(refund, "total", f"refunds[{i}]")),
                )
                for i, refund in enumerate(_objects(payload, "refunds"))
            ),
        )

    def read_customer(self, payload: dict[str, Any]) -> Change:
        """A customer.* payload (WooCommerce's REST customer resource: id, email,
        first_name, last_name, billing, date_modified_gmt) as a Change of the customer at
        its date_modified_gmt: their name and email. WooCommerce keeps no marketing
        consent, so the customer comes in not accepting marketing (as from an order). A
        customer without an email (the top-level one, else the billing one) changes
        nothing."""
        external_id = id_at(payload, "id", "")
        updated_at = _gmt(payload, "date_modified_gmt") or _gmt(
            payload, "date_created_gmt", required=True
        )
        assert updated_at is not None
        billing = payload.get("billing")
        email = text_at(payload, "email") or (
            text_at(billing, "email") if isinstance(billing, dict) else ""
        )
        customers = (
            (
                CustomerRecord(
                    external_id=external_id,
                    email=email,
                    first_name=text_at(payload, "first_name"),
                    last_name=text_at(payload, "last_name"),
                    accepts_marketing=False,
                ),
            )
            if email
            else ()
        )
        return Change(
            kind="customer", external_id=external_id, updated_at=updated_at, customers=customers
        )

    def read_order_deleted(self, payload: dict[str, Any]) -> Change:
        """An order.deleted payload ({"id": …} only): the order no longer counts, whatever
        version of it arrives later."""
        return Change(
            kind=DeliveryKind.ORDER_DELETED,
            external_id=id_at(payload, "id", ""),
            updated_at=DELETED_VERSION,
        )

    def read_product(self, payload: dict[str, Any]) -> Change:
        """A product.created|updated payload (WooCommerce's REST v3 product resource)
        as a Change of the catalog entry at its date_modified_gmt: name, price,
        stock_quantity (when manage_stock), the first category, image and permalink. A
        variation's own payload (`type` "variation": WooCommerce sends one when a
        variation changes) is a Change of that variation, at its own version: the
        variant (its SKU, price, stock, title and permalink) of its `parent_id` product,
        the parent's other variants kept."""
        updated_at = _gmt(payload, "date_modified_gmt", required=True)
        assert updated_at is not None
        if text_at(payload, "type") == "variation":
            variant = variation_record(payload, "")
            record = ProductRecord(
                external_id=id_at(payload, "parent_id", ""),
                name="",
                variants=(variant,),
                merge_variants=True,
            )
            return Change(
                kind="product",
                external_id=variant.external_id,
                updated_at=updated_at,
                products=(record,),
            )
        record = product_record(payload)
        return Change(
            kind="product",
            external_id=record.external_id,
            updated_at=updated_at,
            products=(record,),
        )

    # product.deleted: {"id": …} only.
    read_product_deleted = staticmethod(product_deleted)


def variation_record(variation: dict[str, Any], path: str) -> VariantRecord:
    """WooCommerce's REST v3 product variation resource (an item of
    `/products/<id>/variations`, or a variation's own product payload) as a
    VariantRecord: its id, SKU, price, stock (when manage_stock), its attributes'
    options as its title ("Blue / L") and its permalink, the page showing it."""
    stock = variation.get("stock_quantity")
    managed = variation.get("manage_stock") is True
    attributes = variation.get("attributes")
    options = [
        text_at(a, "option")
        for a in (attributes if isinstance(attributes, list) else [])
        if isinstance(a, dict) and text_at(a, "option")
    ]
    return VariantRecord(
        external_id=id_at(variation, "id", path),
        sku=text_at(variation, "sku")[:100],
        price=money_at(variation, "price", path) if text_at(variation, "price") else None,
        stock=(
            max(stock, 0)
            if managed and isinstance(stock, int) and not isinstance(stock, bool)
            else None
        ),
        title=(" / ".join(options) or text_at(variation, "name"))[:200],
        url=text_at(variation, "permalink")[:500],
    )


def variation_records(variations: Any) -> tuple[VariantRecord, ...]:
    """The body of WooCommerce's `GET /wp-json/wc/v3/products/<id>/variations` (a list
    of variation resources) as the product's VariantRecords; InvalidPayload naming the
    path (`[i].price`) of the first malformed field."""
    if not isinstance(variations, list):
        raise InvalidPayload("not a list of variations", field="")
    records = []
    for i, variation in enumerate(variations):
        if not isinstance(variation, dict):
            raise InvalidPayload("not an object", field=f"[{i}]")
        records.append(variation_record(variation, f"[{i}]"))
    return tuple(records)


def product_record(
    product: dict[str, Any], *, variations: tuple[VariantRecord, ...] | None = None
) -> ProductRecord:
    """WooCommerce's REST v3 product resource as a ProductRecord, with `variations`
    (variation_records of its `/variations`) as its variants when given; InvalidPayload
    naming the path of the first missing or malformed field. A blank price (a variable
    product's own) is left as the catalog has it."""
    stock = product.get("stock_quantity")
    managed = product.get("manage_stock") is True
    categories = _objects(product, "categories")
    images = _objects(product, "images")
    return ProductRecord(
        external_id=id_at(product, "id", ""),
        name=required_text(product, "name", "")[:300],
        category=text_at(categories[0], "name")[:200] if categories else "",
        price=money_at(product, "price", "") if text_at(product, "price") else None,
        stock=(
            max(stock, 0)
            if managed and isinstance(stock, int) and not isinstance(stock, bool)
            else None
        ),
        image_url=text_at(images[0], "src")[:500] if images else "",
        url=text_at(product, "permalink")[:500],
        variants=variations,
    )


def sign(*, body: bytes, secret: str) -> str:
    """The X-WC-Webhook-Signature value WooCommerce sends with `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def order_record(order: dict[str, Any]) -> OrderRecord:
    """WooCommerce's REST order resource as an OrderRecord; InvalidPayload naming the
    path of the first missing or malformed field. WooCommerce keeps no email marketing
    consent on an order: its customers come in not accepting marketing."""
    status = text_at(order, "status")
    modified = _gmt(order, "date_modified_gmt")
    refunds = _objects(order, "refunds")
    placed_at = _gmt(order, "date_created_gmt", required=True)
    assert placed_at is not None
    return OrderRecord(
        external_id=id_at(order, "id", ""),
        customer=_customer(order),
        placed_at=placed_at,
        line_items=tuple(
            _line_item(item, f"line_items[{i}]")
            for i, item in enumerate(_objects(order, "line_items", required=True))
        ),
        total=money_at(order, "total", ""),
        currency=required_text(order, "currency", ""),
        discount_codes=tuple(
            required_text(line, "code", f"coupon_lines[{i}]")
            for i, line in enumerate(_objects(order, "coupon_lines"))
        ),
        paid_at=_gmt(order, "date_paid_gmt"),
        fulfilled_at=_gmt(order, "date_completed_gmt") if status == "completed" else None,
        refunded_at=modified if status == "refunded" else None,
        refunded_total=(
            sum(
                (abs(money_at(r, "total", f"refunds[{i}]")) for i, r in enumerate(refunds)),
                Decimal(0),
            )
            if refunds
            else None
        ),
        cancelled_at=modified if status == "cancelled" else None,
        payment_method=text_at(order, "payment_method_title")[:100],
        shipping_address=_address(order.get("shipping")),
        extra={"woocommerce_status": status} if status else {},
    )


def _customer(order: dict[str, Any]) -> CustomerRecord:
    billing = order.get("billing")
    if not isinstance(billing, dict):
        raise InvalidPayload("missing" if billing is None else "not an object", field="billing")
    email = text_at(billing, "email")
    if not email:
        raise InvalidPayload("missing", field="billing.email")
    customer_id = order.get("customer_id")
    return CustomerRecord(
        external_id=str(customer_id) if customer_id else f"email:{email.lower()}",
        email=email,
        first_name=text_at(billing, "first_name"),
        last_name=text_at(billing, "last_name"),
        accepts_marketing=False,
    )


def _line_item(item: dict[str, Any], path: str) -> LineItemRecord:
    product = item.get("product_id")
    if product:
        external = id_at(item, "product_id", path)
    elif text_at(item, "sku"):
        external = f"sku:{text_at(item, 'sku')}"
    else:
        external = f"line:{id_at(item, 'id', path)}"
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise InvalidPayload("not a whole number", field=f"{path}.quantity")
    variation = item.get("variation_id")  # 0: a simple product, no variation
    return LineItemRecord(
        product_external_id=external,
        quantity=quantity,
        unit_price=money_at(item, "price", path),
        product_name=text_at(item, "name"),
        variant_id=id_at(item, "variation_id", path) if variation else "",
        sku=text_at(item, "sku"),
    )


def _objects(obj: dict[str, Any], name: str, *, required: bool = False) -> list[dict[str, Any]]:
    values = list_at(obj, name, "", required=required)
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise InvalidPayload("not an object", field=f"{name}[{i}]")
    return values


def _gmt(obj: dict[str, Any], name: str, *, required: bool = False) -> dt.datetime | None:
    """A WooCommerce *_gmt moment (no offset: UTC)."""
    return time_at(obj, name, required=required)


def _address(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    parts = ("address_1", "address_2", "postcode", "city", "state", "country")
    return ", ".join(str(address[p]) for p in parts if address.get(p))
