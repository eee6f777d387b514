"""The JSON shapes the API's read, flow, report and customer-data endpoints accept and
answer (the ingest shapes are in schemas.py)."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, Field, StringConstraints

from aftersale.api.schemas import Day, Email, ErrorOut, Moment, ValidationErrorOut, clean_json
from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.flows.models import FlowStatus
from aftersale.messaging.models import Message
from aftersale.orders.models import Checkout, CheckoutLine, LineItem, Order
from aftersale.recommendations.strategies import Strategy

MAX_PAGE = 100


class Page(Schema):
    """Which slice of a list: at most `limit` (1 to 100) rows after skipping `offset`."""

    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=10**9)


class ProductFilters(Page):
    category: str | None = Field(None, max_length=200)
    in_stock: bool | None = None
    updated_since: Moment | None = None


class CustomerFilters(Page):
    email: Email | None = None
    accepts_marketing: bool | None = Field(
        None, description="true: may get marketing email (consented, not unsubscribed)"
    )
    created_since: Moment | None = None


class OrderFilters(Page):
    customer_id: str | None = Field(None, max_length=100, description="the store's customer id")
    placed_since: Moment | None = None
    placed_until: Moment | None = None


class ProductOut(Schema):
    id: str
    name: str
    category: str
    department: str
    brand: str
    price: Decimal
    stock: int | None
    in_stock: bool
    image_url: str
    url: str
    updated_at: dt.datetime | None
    # Created from an order's line item; the catalog has not described it yet.
    awaiting_catalog: bool

    @staticmethod
    def resolve_id(obj: Product) -> str:
        return obj.external_id


class CustomerOut(Schema):
    id: str
    email: str
    first_name: str
    last_name: str
    time_zone: str
    locale: str
    birthday: dt.date | None
    accepts_marketing: bool
    unsubscribed_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Customer) -> str:
        return obj.external_id


class LineItemOut(Schema):
    product_id: str
    name: str
    quantity: int
    unit_price: Decimal
    total: Decimal

    @staticmethod
    def resolve_product_id(obj: LineItem) -> str:
        return obj.product.external_id

    @staticmethod
    def resolve_name(obj: LineItem) -> str:
        return obj.product.name


class OrderOut(Schema):
    id: str
    customer_id: str
    status: str
    currency: str
    total: Decimal
    discount_codes: list[str]
    payment_method: str
    shipping_address: str
    expected_delivery_on: dt.date | None
    placed_at: dt.datetime
    fulfilled_at: dt.datetime | None
    delivered_at: dt.datetime | None
    refunded_at: dt.datetime | None
    refunded_total: Decimal
    cancelled_at: dt.datetime | None
    line_items: list[LineItemOut]

    @staticmethod
    def resolve_id(obj: Order) -> str:
        return obj.external_id

    @staticmethod
    def resolve_customer_id(obj: Order) -> str:
        return obj.customer.external_id

    @staticmethod
    def resolve_line_items(obj: Order) -> list[LineItem]:
        return list(obj.line_items.all())


class ProductPage(Schema):
    """One page of a list: its rows and how many rows the whole list has."""

    count: int
    items: list[ProductOut]


class CustomerPage(Schema):
    count: int
    items: list[CustomerOut]


class OrderPage(Schema):
    count: int
    items: list[OrderOut]


FlowSlug = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]
# A flow definition is checked by the flows app (flows/definition.py), which names every
# bad field; here it only has to be a JSON object, its text cleaned and its depth bounded.
Definition = Annotated[dict[str, Any], AfterValidator(clean_json)]


class FlowIn(Schema):
    slug: FlowSlug
    definition: Definition


class FlowVersionIn(Schema):
    definition: Definition


class FlowSummaryOut(Schema):
    slug: str
    name: str
    status: FlowStatus
    version: int = Field(description="the latest version, which new journeys start on")
    active: int = Field(description="customers in the flow now")


class FlowOut(Schema):
    slug: str
    name: str
    status: FlowStatus
    version: int
    definition: dict[str, Any]
    created_at: dt.datetime


class ReportQuery(Schema):
    """The journeys a report covers: those that started from `since` (included) to
    `until` (not included), days in the store's time zone; either may be left out."""

    since: Day | None = None
    until: Day | None = None


class MessageStatsOut(Schema):
    """Counts of one email step's messages; each `<count>_pct` is % of `sent`."""

    template: str
    sent: int
    delivered: int
    read: int
    replied: int
    bounced: int
    clicked: int
    unsubscribed: int
    delivered_pct: float
    read_pct: float
    replied_pct: float
    bounced_pct: float
    clicked_pct: float
    unsubscribed_pct: float
    purchased: int = Field(description="orders credited to this step's emails (attribution)")
    revenue: float = Field(description="their revenue net of refunds, in the store's currency")
    revenue_by_currency: dict[str, float]
    skipped: int = Field(description="emails decided against (status skipped)")
    skipped_by_reason: dict[str, int] = Field(
        description="skipped emails by reason: smart_sending, suppressed, no_consent, "
        "filter_no_longer_met, missing_address (unrecorded: skipped before reasons were kept)"
    )
    moved_by_quiet_hours: int = Field(description="emails quiet hours moved (sent later)")


class StepStatsOut(Schema):
    index: int
    type: str
    label: str
    waiting: int
    progressed: int
    message: MessageStatsOut | None


class DayRevenueOut(Schema):
    date: dt.date = Field(description="a day in the store's time zone")
    currency: str
    revenue: float
    orders: int


class GroupOut(Schema):
    """Recipients or holdout: the journeys whose window from entry has ended."""

    customers: int
    buyers: int = Field(description="customers who spent in the window")
    conversion: float = Field(description="% of customers who bought in the window")
    revenue_per_customer: float | None = Field(description="in the report's `currency`")
    maturing: int = Field(description="journeys still inside their window, not counted")


class HoldoutOut(GroupOut):
    percent: int = Field(description="the flow's holdout share, in percent")
    window_days: float = Field(description="days from entry each journey is followed")


class VariantOut(Schema):
    """One variant of an A/B split, among recipients whose window has ended."""

    step: int = Field(description="the A/B split's step index")
    variant: str
    weight: int
    recipients: int
    buyers: int
    conversion: float
    revenue_per_recipient: float | None
    revenue_per_recipient_ci: list[float | None] | None = Field(description="95% bootstrap")
    p_value: float | None = Field(description="two-proportion test against variant A")
    probability_best: float = Field(description="that its conversion is the highest")
    verdict: str = Field(description="'Not enough data yet ...' below the minimum, else ''")


class FlowReportOut(Schema):
    """The flow's report: what `aftersale report FLOW --format json` prints."""

    flow: str
    name: str
    started: int
    exited_pct: float
    completed_pct: float
    purchased_pct: float
    revenue: float = Field(description="in-flow purchases in `currency`, the store's")
    exit_reasons: dict[str, int]
    steps: list[StepStatsOut]
    status: FlowStatus
    version: int
    since: str | None = Field(description="ISO 8601 time: journeys started at or after it")
    until: str | None = Field(description="ISO 8601 time: journeys started before it")
    in_flow: int
    exited: int
    completed: int
    purchased: int = Field(description="customers who bought while in the flow")
    orders: int = Field(description="orders placed while in the flow")
    currency: str
    revenue_by_currency: dict[str, float]
    revenue_by_day: list[DayRevenueOut]
    attributed_orders: int = Field(description="orders credited to the flow's emails")
    attributed_revenue: float = Field(
        description="their revenue net of refunds, in `currency`: an order is credited to the "
        "email whose code it used, else the last one clicked within the store's click window, "
        "else the last one read (a person's open) within its open window"
    )
    attributed_revenue_by_currency: dict[str, float]
    overdue_at_entry: int = Field(
        description="journeys started with every email already due (late or back-dated orders)"
    )
    holdout: HoldoutOut
    recipients: GroupOut
    incremental_revenue: float | None = Field(
        description="(recipients' - holdout's revenue per customer) x recipients, `currency`"
    )
    incremental_revenue_ci: list[float | None] | None = Field(description="95% bootstrap")
    incremental_revenue_cuped: float | None = Field(description="CUPED-adjusted estimate")
    incremental_revenue_cuped_ci: list[float | None] | None = Field(description="95% normal")
    variance_reduction: float | None = Field(description="0-1: what CUPED removed")
    holdout_verdict: str
    variants: list[VariantOut]


class RecommendationQuery(Schema):
    strategy: Strategy = "cross_sell"
    limit: int = Field(4, ge=1, le=12)


class PickOut(Schema):
    product_id: str
    name: str
    reason: str
    strategy: str = Field(description="the source that found it")
    upgrade_of: str | None = Field(description="for an upgrade: the product it upgrades")
    price_difference: Decimal | None


class RecommendationsOut(Schema):
    customer_id: str
    strategy: str
    picks: list[PickOut]


class CheckoutLineOut(Schema):
    product_id: str
    quantity: int
    unit_price: Decimal

    @staticmethod
    def resolve_product_id(obj: CheckoutLine) -> str:
        return obj.product.external_id


class CheckoutOut(Schema):
    id: str
    started_at: dt.datetime
    currency: str
    total: Decimal
    recovery_url: str
    completed_at: dt.datetime | None
    lines: list[CheckoutLineOut]

    @staticmethod
    def resolve_id(obj: Checkout) -> str:
        return obj.external_id

    @staticmethod
    def resolve_lines(obj: Checkout) -> list[CheckoutLine]:
        return list(obj.lines.all())


class MessageOut(Schema):
    template: str
    to_email: str
    subject: str
    status: str
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    bounced_at: dt.datetime | None
    recommendations: list[Any]

    @staticmethod
    def resolve_template(obj: Message) -> str:
        return obj.template.slug


class EventOut(Schema):
    kind: str
    occurred_at: dt.datetime
    url: str
    data: dict[str, Any]


class CustomerDataOut(Schema):
    """Everything stored about one customer."""

    customer: CustomerOut
    orders: list[OrderOut]
    checkouts: list[CheckoutOut]
    messages: list[MessageOut]
    events: list[EventOut]


class ErasedOut(Schema):
    id: str = Field(description="the erased customer's id, which no longer names anyone")
    erased: Literal[True] = True


# Every endpoint's errors; one naming an object answers 404 when this store has none.
READ_ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    404: ValidationErrorOut,
    413: ErrorOut,
    422: ValidationErrorOut,
}
