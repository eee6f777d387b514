"""Shopify's webhooks: the HMAC-SHA256 signature of the raw body (base64, in
X-Shopify-Hmac-Sha256, under the app's webhook secret), its X-Shopify-* headers, the
order topics read from Shopify's REST order resource into OrderRecords and the customer
topics from its customer resource into CustomerRecords (their consent)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from aftersale.catalog.records import ProductRecord, VariantRecord
from aftersale.customers.records import CustomerRecord
from aftersale.integrations.platforms.base import (
    NO_VERSION,
    Change,
    DeliveryKind,
    FulfillmentRecord,
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
    where,
)
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord
from aftersale.stores.models import Store

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
# The financial statuses of an order that has been paid (Shopify has no paid_at).
_PAID = frozenset({"paid", "partially_refunded", "refunded"})


class Shopify(Platform):
    """Shopify's webhooks (API version 2024-01 and later)."""

    name = "shopify"
    headers: ClassVar[Mapping[str, str]] = {
        "topic": "X-Shopify-Topic",
        "event_id": "X-Shopify-Event-Id",
        "webhook_id": "X-Shopify-Webhook-Id",
        "shop_domain": "X-Shopify-Shop-Domain",
        "api_version": "X-Shopify-API-Version",
        "triggered_at": "X-Shopify-Triggered-At",
    }
    topics: ClassVar[Mapping[str, DeliveryKind]] = {
        "orders/create": DeliveryKind.ORDER_UPSERTED,
        "orders/updated": DeliveryKind.ORDER_UPSERTED,
        "orders/paid": DeliveryKind.ORDER_UPSERTED,
        "orders/fulfilled": DeliveryKind.FULFILLMENT,
        "orders/partially_fulfilled": DeliveryKind.FULFILLMENT,
        "orders/cancelled": DeliveryKind.ORDER_CANCELLED,
        "refunds/create": DeliveryKind.REFUND,
        "fulfillments/create": DeliveryKind.SHIPMENT,
        "fulfillments/update": DeliveryKind.SHIPMENT,
        "customers/create": DeliveryKind.CUSTOMER_CONSENT,
        "customers/update": DeliveryKind.CUSTOMER_CONSENT,
        "customers/marketing_consent_update": DeliveryKind.CUSTOMER_CONSENT,
        "products/create": DeliveryKind.PRODUCT_UPSERTED,
        "products/update": DeliveryKind.PRODUCT_UPSERTED,
        "products/delete": DeliveryKind.PRODUCT_DELETED,
        "checkouts/create": DeliveryKind.CHECKOUT,
        "checkouts/update": DeliveryKind.CHECKOUT,
        "customers/data_request": DeliveryKind.DATA_REQUEST,
        "customers/redact": DeliveryKind.CUSTOMER_REDACT,
        "shop/redact": DeliveryKind.SHOP_REDACT,
    }
    # Every order topic carries the whole order resource.
    readers: ClassVar[Mapping[DeliveryKind, str]] = {
        DeliveryKind.ORDER_UPSERTED: "read_order",
        DeliveryKind.FULFILLMENT: "read_order",
        DeliveryKind.ORDER_CANCELLED: "read_order",
        DeliveryKind.CUSTOMER_CONSENT: "read_customer",
        DeliveryKind.REFUND: "read_refund",
        DeliveryKind.SHIPMENT: "read_fulfillment",
        DeliveryKind.PRODUCT_UPSERTED: "read_product",
        DeliveryKind.PRODUCT_DELETED: "read_product_deleted",
        DeliveryKind.CHECKOUT: "read_checkout",
        DeliveryKind.DATA_REQUEST: "read_data_request",
        DeliveryKind.CUSTOMER_REDACT: "read_customer_redact",
        DeliveryKind.SHOP_REDACT: "read_shop_redact",
    }

    def verify(self, *, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """The base64 HMAC-SHA256 of the raw `body` under `secret` must equal the
        X-Shopify-Hmac-Sha256 header (compared in constant time)."""
        given = headers.get(SIGNATURE_HEADER, "").strip()
        if not given or not secret:
            raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, given.encode()):
            raise InvalidSignature("the signature does not match the store's webhook secret")

    def read_order(self, payload: dict[str, Any]) -> Change:
        """An order topic's payload (Shopify's REST order resource) as a Change of the
        order, at its updated_at."""
        record = order_record(payload)
        customer = payload.get("customer")
        return Change(
            kind="order",
            external_id=record.external_id,
            updated_at=time_at(payload, "updated_at", required=True) or record.placed_at,
            orders=(record,),
            refunds=refund_records(
                order_id=record.external_id, refunds=list_at(payload, "refunds", "")
            ),
            customer_updated_at=(
                time_at(customer, "updated_at", "customer") if isinstance(customer, dict) else None
            ),
        )

    def read_refund(self, payload: dict[str, Any]) -> Change:
        """A refunds/create payload (Shopify's REST refund resource: id, order_id,
        created_at, transactions[]) as a Change telling of that one refund."""
        (refund,) = refund_records(
            order_id=id_at(payload, "order_id", ""), refunds=[payload], path=""
        )
        return Change(
            kind="refund",
            external_id=refund.refund_id,
            updated_at=refund.created_at or NO_VERSION,
            refunds=(refund,),
        )

    def read_fulfillment(self, payload: dict[str, Any]) -> Change:
        """A fulfillments/create|update payload (Shopify's REST fulfillment resource:
        id, order_id, created_at, updated_at, shipment_status) as a Change telling of
        that fulfillment: made at created_at, delivered at updated_at once its
        shipment_status is "delivered"."""
        fulfilled_at = time_at(payload, "created_at", required=True)
        assert fulfilled_at is not None
        delivered = text_at(payload, "shipment_status") == "delivered"
        record = FulfillmentRecord(
            fulfillment_id=id_at(payload, "id", ""),
            order_external_id=id_at(payload, "order_id", ""),
            fulfilled_at=fulfilled_at,
            delivered_at=(
                time_at(payload, "updated_at", required=True) or fulfilled_at if delivered else None
            ),
        )
        return Change(
            kind="fulfillment",
            external_id=record.fulfillment_id,
            updated_at=time_at(payload, "updated_at") or fulfilled_at,
            fulfillments=(record,),
        )

    def read_product(self, payload: dict[str, Any]) -> Change:
        """A products/create|update payload (Shopify's REST product resource) as a
        Change of the catalog entry at its updated_at: title, product_type (category),
        vendor (brand), the lowest variant price, the stock summed over the variants
        (untracked when none has inventory_quantity) and the first image."""
        record = product_record(payload)
        updated_at = time_at(payload, "updated_at", required=True)
        assert updated_at is not None
        return Change(
            kind="product",
            external_id=record.external_id,
            updated_at=updated_at,
            products=(record,),
        )

    # products/delete: {"id": …} only.
    read_product_deleted = staticmethod(product_deleted)

    def read_checkout(self, payload: dict[str, Any]) -> Change:
        """A checkouts/create|update payload (Shopify's REST checkout resource: id,
        email, customer, created_at, updated_at, completed_at, line_items, total_price,
        currency, abandoned_checkout_url) as a Change of the checkout at its updated_at,
        for checkout recovery. A checkout without an email yet changes nothing."""
        external_id = id_at(payload, "id", "")
        started_at = time_at(payload, "created_at", required=True)
        assert started_at is not None
        updated_at = time_at(payload, "updated_at") or started_at
        checkouts: tuple[CheckoutRecord, ...] = ()
        if text_at(payload, "email"):
            checkouts = (
                CheckoutRecord(
                    external_id=external_id,
                    customer=_customer(payload),
                    started_at=started_at,
                    line_items=tuple(
                        _line_item(item, f"line_items[{i}]")
                        for i, item in enumerate(list_at(payload, "line_items", ""))
                    ),
                    total=money_at(payload, "total_price", ""),
                    currency=required_text(payload, "currency", ""),
                    recovery_url=text_at(payload, "abandoned_checkout_url")[:500],
                    completed_at=time_at(payload, "completed_at"),
                ),
            )
        customer = payload.get("customer")
        return Change(
            kind="checkout",
            external_id=external_id,
            updated_at=updated_at,
            checkouts=checkouts,
            customer_updated_at=(
                time_at(customer, "updated_at", "customer") if isinstance(customer, dict) else None
            ),
        )

    def read_customer(self, payload: dict[str, Any]) -> Change:
        """A customers/* payload (Shopify's REST customer resource) as a Change of the
        customer at its updated_at: their name and email marketing consent. A customer
        without an email (a phone-only one) changes nothing."""
        external_id = id_at(payload, "id", "")
        updated_at = time_at(payload, "updated_at", required=True)
        assert updated_at is not None
        email = text_at(payload, "email")
        customers = (
            (
                CustomerRecord(
                    external_id=external_id,
                    email=email,
                    first_name=text_at(payload, "first_name"),
                    last_name=text_at(payload, "last_name"),
                    accepts_marketing=_accepts_marketing(payload),
                ),
            )
            if email
            else ()
        )
        return Change(
            kind="customer", external_id=external_id, updated_at=updated_at, customers=customers
        )

    def read_data_request(self, payload: dict[str, Any]) -> Change:
        """A customers/data_request payload (shop_id, shop_domain, customer {id, email,
        phone}, orders_requested, data_request {id}): the customer's data is asked for."""
        customer = _privacy_customer(payload)
        request = payload.get("data_request")
        request_id = id_at(request, "id", "data_request") if isinstance(request, dict) else ""
        return Change(
            kind=DeliveryKind.DATA_REQUEST,
            external_id=customer,
            updated_at=NO_VERSION,
            subject=customer,
            request_id=request_id,
        )

    def read_customer_redact(self, payload: dict[str, Any]) -> Change:
        """A customers/redact payload (shop_id, shop_domain, customer {id, email, phone},
        orders_to_redact): the customer's personal data is to be erased."""
        customer = _privacy_customer(payload)
        return Change(
            kind=DeliveryKind.CUSTOMER_REDACT,
            external_id=customer,
            updated_at=NO_VERSION,
            subject=customer,
        )

    def read_shop_redact(self, payload: dict[str, Any]) -> Change:
        """A shop/redact payload (shop_id, shop_domain), sent 48 hours after the store
        uninstalled the app: the personal data of every customer of the store is erased."""
        return Change(
            kind=DeliveryKind.SHOP_REDACT,
            external_id=id_at(payload, "shop_id", ""),
            updated_at=NO_VERSION,
        )


def _privacy_customer(payload: dict[str, Any]) -> str:
    """The id of the customer a privacy request names (customer.id)."""
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise InvalidPayload("missing" if customer is None else "not an object", field="customer")
    return id_at(customer, "id", "customer")


def sign(*, body: bytes, secret: str) -> str:
    """The X-Shopify-Hmac-Sha256 value Shopify sends with `body` (for tests and tools)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def order_record(order: dict[str, Any]) -> OrderRecord:
    """Shopify's REST order resource as an OrderRecord; InvalidPayload naming the field
    path of the first missing or malformed field."""
    external_id = id_at(order, "id", "")
    placed_at = time_at(order, "created_at", required=True)
    assert placed_at is not None
    financial = text_at(order, "financial_status")
    fulfillment = text_at(order, "fulfillment_status")
    refunds = list_at(order, "refunds", "")
    refunded_total, refunded_at = _refunds(refunds)
    return OrderRecord(
        external_id=external_id,
        customer=_customer(order),
        placed_at=placed_at,
        line_items=tuple(
            _line_item(item, f"line_items[{i}]")
            for i, item in enumerate(list_at(order, "line_items", "", required=True))
        ),
        total=money_at(order, "total_price", ""),
        currency=required_text(order, "currency", ""),
        discount_codes=tuple(
            required_text(code, "code", f"discount_codes[{i}]")
            for i, code in enumerate(list_at(order, "discount_codes", ""))
        ),
        paid_at=(time_at(order, "processed_at") or placed_at) if financial in _PAID else None,
        fulfilled_at=_fulfilled_at(order) if fulfillment == "fulfilled" else None,
        refunded_at=refunded_at if financial == "refunded" else None,
        refunded_total=refunded_total,
        cancelled_at=time_at(order, "cancelled_at"),
        shipping_address=_address(order.get("shipping_address")),
        extra={
            key: value
            for key, value in {
                "shopify_name": text_at(order, "name"),
                "shopify_financial_status": financial,
                "shopify_fulfillment_status": fulfillment,
            }.items()
            if value
        },
    )


def _customer(order: dict[str, Any]) -> CustomerRecord:
    customer = order.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise InvalidPayload("not an object", field="customer")
    email = text_at(order, "email") or (text_at(customer, "email") if customer else "")
    if not email:
        raise InvalidPayload("missing", field="email")
    if not customer:  # a guest checkout
        return CustomerRecord(external_id=f"email:{email.lower()}", email=email)
    return CustomerRecord(
        external_id=id_at(customer, "id", "customer"),
        email=email,
        first_name=text_at(customer, "first_name"),
        last_name=text_at(customer, "last_name"),
        accepts_marketing=_accepts_marketing(customer),
        locale=text_at(order, "customer_locale"),
    )


def _accepts_marketing(customer: dict[str, Any]) -> bool:
    """Whether email marketing consent is given: email_marketing_consent.state is
    "subscribed" (the older accepts_marketing flag when there is no such object)."""
    consent = customer.get("email_marketing_consent")
    if isinstance(consent, dict):
        return consent.get("state") == "subscribed"
    return customer.get("accepts_marketing") is True


def _line_item(item: Any, path: str) -> LineItemRecord:
    if not isinstance(item, dict):
        raise InvalidPayload("not an object", field=path)
    # A custom line item has no product: its SKU, else its own id, names it.
    product = item.get("product_id")
    if product is not None:
        external = id_at(item, "product_id", path)
    elif text_at(item, "sku"):
        external = f"sku:{text_at(item, 'sku')}"
    else:
        external = f"line:{id_at(item, 'id', path)}"
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise InvalidPayload("not a whole number", field=f"{path}.quantity")
    price = money_at(item, "price", path)
    variant = item.get("variant_id")
    return LineItemRecord(
        product_external_id=external,
        quantity=quantity,
        unit_price=price,
        product_name=text_at(item, "title") or text_at(item, "name"),
        variant_id=id_at(item, "variant_id", path) if variant is not None else "",
        sku=text_at(item, "sku"),
    )


def _refunds(refunds: list[Any]) -> tuple[Decimal | None, dt.datetime | None]:
    """The successful refund transactions' amounts added up, and the latest refund."""
    if not refunds:
        return None, None
    total, latest = Decimal("0"), None
    for i, refund in enumerate(refunds):
        path = f"refunds[{i}]"
        if not isinstance(refund, dict):
            raise InvalidPayload("not an object", field=path)
        moment = time_at(refund, "created_at", path)
        latest = moment if latest is None or (moment and moment > latest) else latest
        for j, transaction in enumerate(list_at(refund, "transactions", path)):
            at = f"{path}.transactions[{j}]"
            if not isinstance(transaction, dict):
                raise InvalidPayload("not an object", field=at)
            if transaction.get("kind") == "refund" and transaction.get("status") == "success":
                total += money_at(transaction, "amount", at)
    return total, latest


def refund_records(
    *, order_id: str, refunds: list[Any], path: str = "refunds"
) -> tuple[RefundRecord, ...]:
    """Shopify refund resources (an order's `refunds`, or one refunds/create payload with
    `path` "") as RefundRecords: the successful `refund` transactions' amounts added up."""
    records = []
    for i, refund in enumerate(refunds):
        place = f"{path}[{i}]" if path else ""
        if not isinstance(refund, dict):
            raise InvalidPayload("not an object", field=place)
        amount = Decimal("0")
        for j, transaction in enumerate(list_at(refund, "transactions", place)):
            at = where(place, f"transactions[{j}]")
            if not isinstance(transaction, dict):
                raise InvalidPayload("not an object", field=at)
            if transaction.get("kind") == "refund" and transaction.get("status") == "success":
                amount += money_at(transaction, "amount", at)
        records.append(
            RefundRecord(
                refund_id=id_at(refund, "id", place),
                order_external_id=order_id,
                amount=amount,
                created_at=time_at(refund, "created_at", place),
            )
        )
    return tuple(records)


def _fulfilled_at(order: dict[str, Any]) -> dt.datetime | None:
    moments = [
        moment
        for i, f in enumerate(list_at(order, "fulfillments", ""))
        if isinstance(f, dict) and (moment := time_at(f, "created_at", f"fulfillments[{i}]"))
    ]
    return max(moments) if moments else time_at(order, "updated_at")


def _address(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    parts = ("address1", "address2", "zip", "city", "province", "country")
    return ", ".join(str(address[p]) for p in parts if address.get(p))


def product_record(product: dict[str, Any]) -> ProductRecord:
    """Shopify's REST product resource as a ProductRecord (with its variants' ids, SKUs,
    prices and stock, its tags and its handle: `with_links` makes its page URL of it);
    InvalidPayload naming the path of the first missing or malformed field."""
    variants = list_at(product, "variants", "")
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict):
            raise InvalidPayload("not an object", field=f"variants[{i}]")
    prices = [money_at(v, "price", f"variants[{i}]") for i, v in enumerate(variants)]
    stocks = [
        v["inventory_quantity"]
        for v in variants
        if isinstance(v.get("inventory_quantity"), int)
        and not isinstance(v.get("inventory_quantity"), bool)
    ]
    image = product.get("image")
    images = list_at(product, "images", "")
    if not isinstance(image, dict) and images and isinstance(images[0], dict):
        image = images[0]
    return ProductRecord(
        external_id=id_at(product, "id", ""),
        name=required_text(product, "title", "")[:300],
        category=text_at(product, "product_type")[:200],
        brand=text_at(product, "vendor")[:200],
        price=min(prices) if prices else None,
        stock=max(sum(stocks), 0) if stocks else None,
        image_url=text_at(image, "src")[:500] if isinstance(image, dict) else "",
        variants=tuple(
            VariantRecord(
                external_id=id_at(v, "id", f"variants[{i}]"),
                sku=text_at(v, "sku")[:100],
                price=prices[i],
                stock=_whole(v.get("inventory_quantity")),
                title=text_at(v, "title")[:200],
            )
            for i, v in enumerate(variants)
        ),
        tags=tuple(t.strip()[:100] for t in text_at(product, "tags").split(",") if t.strip()),
        handle=text_at(product, "handle").strip(),
    )


def storefront(*, store: Store, shop_domain: str) -> str:
    """Where `store`'s customers see its products: its website, else its Shopify shop
    (`shop_domain`, the myshopify domain); "" when neither is known."""
    if store.website_url:
        return store.website_url.rstrip("/")
    domain = shop_domain.strip().removeprefix("https://").removeprefix("http://").strip("/")
    return f"https://{domain}" if domain else ""


def with_links(records: Iterable[ProductRecord], *, storefront: str) -> tuple[ProductRecord, ...]:
    """`records` with each product's page, `storefront`/products/HANDLE, where the
    record has a handle and no URL of its own (and `storefront` is known)."""
    return tuple(
        dataclasses.replace(r, url=f"{storefront}/products/{r.handle}"[:500])
        if storefront and r.handle and not r.url
        else r
        for r in records
    )


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
