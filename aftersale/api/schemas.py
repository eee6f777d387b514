"""The JSON shapes the API accepts and returns, and their conversion to ingest records."""

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from aftersale.catalog.records import ProductRecord
from aftersale.customers.records import CustomerRecord
from aftersale.lib import bounds
from aftersale.lib.addresses import MAX_LENGTH as ADDRESS_MAX_LENGTH
from aftersale.lib.addresses import InvalidAddress, normalized_address
from aftersale.lib.currencies import is_currency_code
from aftersale.lib.text import has_unprintable, multi_line_text, single_line_text
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord


def _id_text(value: object) -> object:
    # Platforms send ids as numbers or strings; they are stored as text either way.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _not_blank(value: str) -> str:
    # An id of spaces would be stored as "" and then taken for every other blank id.
    if not value:
        raise ValueError("must not be blank")
    return value


def _printable(value: str) -> str:
    # An id or a link is matched and followed as it is: cleaning one would silently
    # make it another, so a control character in it is refused instead.
    if has_unprintable(value):
        raise ValueError("must not contain a control character or a Unicode noncharacter")
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
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise ValueError("not an IANA time zone name") from error
    return value


# A number, as JSON or as the text of a query parameter.
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_text(value: object) -> object:
    # Dates and times come as ISO 8601 text, as the schema documents: a number (or the
    # text of one, as a query parameter is) would be taken for a Unix timestamp, and is
    # refused instead.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 string")
    return value


def _moment(value: dt.datetime) -> dt.datetime:
    # A time without an offset is taken to be UTC.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if problem := bounds.moment_problem(aware):
        raise ValueError(problem)
    return aware


def _day(value: dt.date) -> dt.date:
    if problem := bounds.day_problem(value):
        raise ValueError(problem)
    return value


def _birthday(value: dt.date) -> dt.date:
    if problem := bounds.day_problem(value, earliest=bounds.EARLIEST_BIRTHDAY):
        raise ValueError(problem)
    return value


def clean_json(value: Any, depth: int = 0) -> Any:
    """Free-form JSON with its text cleaned as names are (it reaches templates and a JSON
    column, and PostgreSQL refuses \\u0000 in jsonb); ValueError when it is nested
    deeper than MAX_JSON_DEPTH."""
    if depth > bounds.MAX_JSON_DEPTH:
        raise ValueError(f"must not be nested deeper than {bounds.MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        return multi_line_text(value)
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {single_line_text(k): clean_json(v, depth + 1) for k, v in value.items()}
    return value


ExternalId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_not_blank),
    AfterValidator(_printable),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 100}, {"type": "integer"}]}
    ),
]
HttpUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500),
    AfterValidator(_printable),
    AfterValidator(_http_url),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": ADDRESS_MAX_LENGTH}),
]
Moment = Annotated[
    dt.datetime,
    BeforeValidator(_iso_text),
    AfterValidator(_moment),
    Field(description=f"From {bounds.EARLIEST:%Y-%m-%d} to before {bounds.LATEST:%Y-%m-%d}."),
]
Day = Annotated[
    dt.date,
    BeforeValidator(_iso_text),
    AfterValidator(_day),
    Field(description=f"From {bounds.EARLIEST:%Y-%m-%d} to before {bounds.LATEST:%Y-%m-%d}."),
]
Birthday = Annotated[
    dt.date,
    BeforeValidator(_iso_text),
    AfterValidator(_birthday),
    Field(description=f"From {bounds.EARLIEST_BIRTHDAY} to before {bounds.LATEST:%Y-%m-%d}."),
]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
Money = Annotated[Decimal, Field(ge=0, le=bounds.MAX_AMOUNT, max_digits=12, decimal_places=2)]
# Strict: a JSON integer, not true, "3" or 3.0.
Quantity = Annotated[int, Strict(), Field(ge=0, le=bounds.MAX_QUANTITY)]
Stock = Annotated[int, Strict(), Field(ge=bounds.MIN_STOCK, le=bounds.MAX_STOCK)]
# Names and text: checked for length before cleaning, which only ever shortens them.
Text100 = Annotated[str, StringConstraints(max_length=100), AfterValidator(single_line_text)]
Text200 = Annotated[str, StringConstraints(max_length=200), AfterValidator(single_line_text)]
Text300 = Annotated[str, StringConstraints(max_length=300), AfterValidator(single_line_text)]
ProductName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300),
    AfterValidator(single_line_text),
    AfterValidator(_not_blank),
]
Address = Annotated[str, StringConstraints(max_length=1000), AfterValidator(multi_line_text)]
OptionalId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(strip_whitespace=True, max_length=100),
    AfterValidator(_printable),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 100}, {"type": "integer"}]}),
]
DiscountCode = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_printable)
]


class CustomerIn(Schema):
    id: ExternalId
    email: Email
    first_name: Text100 = ""
    last_name: Text100 = ""
    time_zone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)] = ""
    accepts_marketing: StrictBool = True
    locale: str = Field("", max_length=20, pattern=r"^([a-z]{2,3}([_-][A-Za-z0-9]{2,8})*)?$")
    birthday: Birthday | None = None


class LineItemIn(Schema):
    product_id: ExternalId
    name: Text300 = ""
    category: Text200 = ""
    quantity: Quantity
    unit_price: Money

    @model_validator(mode="after")
    def _total_within_bounds(self) -> "LineItemIn":
        # The line's total is stored too, in a column of the same size as its price.
        if self.unit_price * self.quantity > bounds.MAX_AMOUNT:
            raise ValueError(f"quantity times unit_price must be at most {bounds.MAX_AMOUNT}")
        return self


def _lines_within_bounds(line_items: list[LineItemIn]) -> list[LineItemIn]:
    # Without a total, the order's is the sum of its lines, stored in the same column.
    if sum(li.unit_price * li.quantity for li in line_items) > bounds.MAX_AMOUNT:
        raise ValueError(f"the line items must add up to at most {bounds.MAX_AMOUNT}")
    return line_items


LineItems = Annotated[
    list[LineItemIn],
    Field(min_length=1, max_length=bounds.MAX_LINE_ITEMS),
    AfterValidator(_lines_within_bounds),
]


class OrderIn(Schema):
    id: ExternalId
    customer: CustomerIn
    placed_at: Moment
    line_items: LineItems
    paid_at: Moment | None = None
    fulfilled_at: Moment | None = None
    delivered_at: Moment | None = None
    refunded_at: Moment | None = None
    refunded_total: Money | None = Field(
        None, description="what has been refunded so far (partial refunds add up to it)"
    )
    cancelled_at: Moment | None = None
    discount_codes: list[DiscountCode] = Field([], max_length=bounds.MAX_DISCOUNT_CODES)
    total: Money | None = None
    currency: CurrencyCode | None = None
    payment_method: Text100 = ""
    shipping_address: Address = ""
    expected_delivery_on: Day | None = None


class OrderAccepted(Schema):
    id: str
    created: bool


class CheckoutIn(Schema):
    id: ExternalId
    customer: CustomerIn
    started_at: Moment
    line_items: LineItems
    total: Money | None = None
    currency: CurrencyCode | None = None
    recovery_url: Annotated[
        str,
        StringConstraints(max_length=1000, pattern=r"^(https?://\S+)?$"),
        AfterValidator(_printable),
    ] = ""
    completed_at: Moment | None = None
    order_id: OptionalId = ""


class CheckoutAccepted(Schema):
    id: str
    created: bool


class EventIn(Schema):
    customer: CustomerIn
    event: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    occurred_at: Moment
    properties: Annotated[dict[str, Any], AfterValidator(clean_json)] = {}


class EventAccepted(Schema):
    id: int
    kind: str


class ProductIn(Schema):
    id: ExternalId
    name: ProductName
    category: Text200 = ""
    department: Text200 = ""
    brand: Text200 = ""
    price: Money | None = None
    stock: Stock | None = None
    image_url: HttpUrl = ""
    url: HttpUrl = ""


class ProductsAccepted(Schema):
    received: int


class ErrorOut(Schema):
    """Every error but a validation error: a body that is not JSON (400), a missing or
    unknown key (401), a body over the size limit (413)."""

    detail: str


class FieldError(Schema):
    """One refused value: `loc` is its path, e.g. ["body", "order", "line_items", 0,
    "quantity"]; `ctx` holds the limit it broke, when there is one."""

    type: str
    loc: list[str | int]
    msg: str
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(Schema):
    """A request whose values do not validate (422): every refused value, with its path."""

    detail: list[FieldError]


# The errors every endpoint can answer, documented in the OpenAPI schema.
ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    413: ErrorOut,
    422: ValidationErrorOut,
}


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
        refunded_total=order.refunded_total,
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
