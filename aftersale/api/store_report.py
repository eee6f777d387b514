"""The store-level report: repeat purchases within 12 months against seed 003's 32%, the
median days to the second order, and revenue per customer by first-order cohort month;
the same JSON `aftersale report --store SLUG --format json` prints."""

from django.http import HttpRequest
from ninja import Query, Schema
from pydantic import Field

from aftersale.api.auth import request_store
from aftersale.api.errors import ApiError
from aftersale.api.read_schemas import READ_ERRORS, ReportQuery
from aftersale.api.routes import router
from aftersale.lib import clock
from aftersale.reports.selectors import BadRange, report_range
from aftersale.reports.store import store_report

TAGS = ["reports"]


class CohortOut(Schema):
    """The customers whose first order fell in one month (the store's time zone)."""

    month: str = Field(description='the month of the first order, "YYYY-MM"')
    customers: int
    repeat_customers: int = Field(description="with a second order so far")
    measurable: int = Field(description="first order at least 365 days ago")
    repeated_within_12_months: int = Field(description="of `measurable`, back within 365 days")
    repeat_rate_pct: float | None = Field(description="None until one is measurable")
    months_elapsed: int = Field(description="how many of months 0..12 have ended")
    revenue_per_customer: dict[str, list[float]] = Field(
        description="per currency, the cumulative revenue per customer of the cohort at "
        "months 0, 1, ... (one value per month that has ended); never added across currencies"
    )


class StoreReportOut(Schema):
    """The store's report of the customers whose first order falls in the range."""

    store: str
    currency: str = Field(description="the store's currency")
    time_zone: str
    now: str = Field(description="ISO 8601 time the report is as of")
    since: str | None = Field(description="ISO 8601 time: first orders at or after it")
    until: str | None = Field(description="ISO 8601 time: first orders before it")
    customers: int = Field(description="customers whose first purchase is in the range")
    repeat_customers: int
    measurable: int = Field(description="first order at least 365 days before now")
    maturing: int = Field(description="first order less than 365 days ago: not measurable yet")
    repeated_within_12_months: int
    repeat_rate_pct: float | None = Field(
        description="repeated_within_12_months as % of measurable; None when none is"
    )
    benchmark_pct: float = Field(description="seed 003's benchmark: 32")
    benchmark_source: str
    median_days_to_second_order: float | None
    currencies: list[str] = Field(description="the store's first")
    cohorts: list[CohortOut]


@router.get("/report", response={200: StoreReportOut, **READ_ERRORS}, tags=TAGS)
def get_store_report(request: HttpRequest, window: Query[ReportQuery]) -> dict[str, object]:
    """The store-level report of the customers whose first purchase was placed from
    `since` to `until` (not included; days in the store's time zone): repeat-purchase
    rate within 12 months next to the 32% benchmark, median days to the second order,
    cumulative revenue per customer by first-order month and currency. An `until` not
    after `since` answers 422."""
    store = request_store(request)
    try:
        since, until = report_range(store=store, since=window.since, until=window.until)
    except BadRange as error:
        raise ApiError(422, ["query", "until"], str(error), "bad_range") from error
    return store_report(store=store, now=clock.now(), since=since, until=until).as_dict()
