"""The JSON shapes the API accepts and returns, and their conversion to ingest records."""

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from aftersale.catalog.records import ProductRecord
from aftersale.customers.records import CustomerRecord
from aftersale.lib.addresses import InvalidAddress, normalized_address
from aftersale.lib.currencies import is_currency_code
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord


def _id_text(value: object) -> object:
    # Platforms send ids as numbers or strings; they are stored as text either way.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _not_blank(value: str) -> str:
    # An id of spaces would be stored as "" and then taken for every other blank id.
    if not value:
        raise ValueError("must not be blank")
    return value


_validate_http_url = URLValidator(schemes=["http", "https"])


def _http_url(value: str) -> str:
    # Only web links reach an email: no javascript:, data: or file: URLs.
    if value:
        try:
            _validate_http_url(value)
        except ValidationError as error:
            raise ValueError("not a valid http(s) URL") from error
    return value


def _currency(value: str) -> str:
    if not is_currency_code(value):
        raise ValueError("not an ISO 4217 currency code")
    return value


def _email(value: str) -> str:
    try:
        return normalized_address(value)
    except InvalidAddress as error:
        raise ValueError(str(error)) from error


def _time_zone(value: str) -> str:
    if value:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("not an IANA time zone name") from error
    return value


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # A time without an offset is taken to be UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


ExternalId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_not_blank),
]
HttpUrl = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_http_url)]
Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]
Moment = Annotated[dt.datetime, AfterValidator(_utc)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class CustomerIn(Schema):
    id: ExternalId
    email: Email
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)
    time_zone: Annotated[str, AfterValidator(_time_zone)] = ""
    accepts_marketing: bool = True
    locale: str = Field("", max_length=20, pattern=r"^([a-z]{2,3}([_-][A-Za-z0-9]{2,8})*)?$")
    birthday: dt.date | None = None


class LineItemIn(Schema):
    product_id: ExternalId
    name: str = Field("", max_length=300)
    category: str = Field("", max_length=200)
    quantity: int = Field(ge=0)
    unit_price: Money


class OrderIn(Schema):
    id: ExternalId
    customer: CustomerIn
    placed_at: Moment
    line_items: list[LineItemIn] = Field(min_length=1)
    paid_at: Moment | None = None
    fulfilled_at: Moment | None = None
    delivered_at: Moment | None = None
    refunded_at: Moment | None = None
    cancelled_at: Moment | None = None
    discount_codes: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = []
    total: Money | None = None
    currency: CurrencyCode | None = None
    payment_method: str = Field("", max_length=100)
    shipping_address: str = Field("", max_length=1000)
    expected_delivery_on: dt.date | None = None


class OrderAccepted(Schema):
    id: str
    created: bool


class CheckoutIn(Schema):
    id: ExternalId
    customer: CustomerIn
    started_at: Moment
    line_items: list[LineItemIn] = Field(min_length=1)
    total: Money | None = None
    currency: CurrencyCode | None = None
    recovery_url: str = Field("", max_length=1000, pattern=r"^(https?://\S+)?$")
    completed_at: Moment | None = None
    order_id: Annotated[str, BeforeValidator(_id_text), StringConstraints(max_length=100)] = ""


class CheckoutAccepted(Schema):
    id: str
    created: bool


class EventIn(Schema):
    customer: CustomerIn
    event: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    occurred_at: Moment
    properties: dict[str, Any] = {}


class EventAccepted(Schema):
    id: int
    kind: str


class ProductIn(Schema):
    id: ExternalId
    name: str = Field(min_length=1, max_length=300)
    category: str = Field("", max_length=200)
    department: str = Field("", max_length=200)
    brand: str = Field("", max_length=200)
    price: Money | None = None
    stock: int | None = None
    image_url: HttpUrl = Field("", max_length=500)
    url: HttpUrl = Field("", max_length=500)


class ProductsAccepted(Schema):
    received: int


def customer_record(customer: CustomerIn) -> CustomerRecord:
    """The ingest record of an API customer."""
    return CustomerRecord(
        external_id=customer.id,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        time_zone=customer.time_zone,
        accepts_marketing=customer.accepts_marketing,
        locale=customer.locale.replace("-", "_"),
        birthday=customer.birthday,
    )


def _line_records(line_items: list[LineItemIn]) -> tuple[LineItemRecord, ...]:
    return tuple(
        LineItemRecord(
            product_external_id=li.product_id,
            quantity=li.quantity,
            unit_price=li.unit_price,
            product_name=li.name,
            category=li.category,
        )
        for li in line_items
    )


def order_record(order: OrderIn, *, default_currency: str) -> OrderRecord:
    """The ingest record of an API order; with no currency given, the store's."""
    return OrderRecord(
        external_id=order.id,
        customer=customer_record(order.customer),
        placed_at=order.placed_at,
        line_items=_line_records(order.line_items),
        total=order.total,
        currency=order.currency or default_currency,
        discount_codes=tuple(order.discount_codes),
        payment_method=order.payment_method,
        shipping_address=order.shipping_address,
        expected_delivery_on=order.expected_delivery_on,
        paid_at=order.paid_at,
        fulfilled_at=order.fulfilled_at,
        delivered_at=order.delivered_at,
        refunded_at=order.refunded_at,
        cancelled_at=order.cancelled_at,
    )


def checkout_record(checkout: CheckoutIn, *, default_currency: str) -> CheckoutRecord:
    """The ingest record of an API checkout; with no currency given, the store's."""
    return CheckoutRecord(
        external_id=checkout.id,
        customer=customer_record(checkout.customer),
        started_at=checkout.started_at,
        line_items=_line_records(checkout.line_items),
        total=checkout.total,
        currency=checkout.currency or default_currency,
        recovery_url=checkout.recovery_url,
        completed_at=checkout.completed_at,
        order_external_id=checkout.order_id,
    )


def product_record(product: ProductIn) -> ProductRecord:
    """The catalog record of an API product."""
    return ProductRecord(
        external_id=product.id,
        name=product.name,
        category=product.category,
        department=product.department,
        brand=product.brand,
        price=product.price,
        stock=product.stock,
        image_url=product.image_url,
        url=product.url,
    )
