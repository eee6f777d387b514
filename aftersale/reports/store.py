"""The store-level report (seed 003 measures success by the second order): how many
first-time buyers came back within a year (against the 32% benchmark), how long they took
to, and what a customer is worth by the month of their first order (cumulative revenue
per customer, month by month, per currency). All of it from one SQL statement with window
functions over the store's orders, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Min

from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.reports.sql import column_of
from aftersale.stores.models import Store

# Seed 003 (RJMetrics): "only 32 percent of ecommerce customers place a second order
# within the first year".
REPEAT_BENCHMARK_PCT = 32.0
REPEAT_BENCHMARK_SOURCE = (
    "RJMetrics: 32 % of ecommerce customers place a second order within the first year"
)
REPEAT_WINDOW_DAYS = 365
CLV_MONTHS = 12  # cumulative revenue per customer at months 0..12 after the first order
_CENT = Decimal("0.01")


@dataclass
class Cohort:
    """The customers whose first order fell in one calendar month (the store's time
    zone). `revenue_per_customer[currency][k]` is the revenue in `currency` of all their
    orders from the start of that month to the end of the k-th month after it, divided
    by `customers` (every customer of the cohort, whatever currency they paid in): one
    value for each month that has fully elapsed, at most months 0 to 12."""

    month: dt.date  # the first day of the month
    customers: int
    repeat_customers: int = 0  # with a second order, at any time so far
    measurable: int = 0  # first order at least 365 days ago
    repeated_within_12_months: int = 0  # of `measurable`, second order within 365 days
    repeat_rate_pct: float | None = None  # None until one customer is measurable
    months_elapsed: int = 0  # how many of months 0..12 have ended
    revenue_per_customer: dict[str, list[Decimal]] = field(default_factory=dict)


@dataclass
class StoreReport:
    """What `store_report` promises, as of `now`, over the customers whose first order
    (not cancelled or refunded) was placed in [since, until)."""

    store: str
    currency: str
    time_zone: str
    now: dt.datetime
    since: dt.datetime | None
    until: dt.datetime | None
    customers: int  # with a first order in range
    repeat_customers: int  # of them, with a second order so far
    measurable: int  # first order at least 365 days before `now`
    maturing: int  # first order less than 365 days ago: not measurable yet
    repeated_within_12_months: int  # of `measurable`, second order within 365 days
    repeat_rate_pct: float | None  # None when nobody is measurable yet
    benchmark_pct: float
    benchmark_source: str
    median_days_to_second_order: float | None  # None when nobody came back
    currencies: list[str]  # those the cohorts' revenue came in, the store's first
    cohorts: list[Cohort]

    def as_dict(self) -> dict[str, object]:
        """The report as JSON values: times as ISO 8601 text, cohort months as
        "YYYY-MM", money as numbers of two decimals keyed by currency."""
        return {
            "store": self.store,
            "currency": self.currency,
            "time_zone": self.time_zone,
            "now": self.now.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "measurable": self.measurable,
            "maturing": self.maturing,
            "repeated_within_12_months": self.repeated_within_12_months,
            "repeat_rate_pct": self.repeat_rate_pct,
            "benchmark_pct": self.benchmark_pct,
            "benchmark_source": self.benchmark_source,
            "median_days_to_second_order": self.median_days_to_second_order,
            "currencies": self.currencies,
            "cohorts": [
                {
                    "month": f"{c.month:%Y-%m}",
                    "customers": c.customers,
                    "repeat_customers": c.repeat_customers,
                    "measurable": c.measurable,
                    "repeated_within_12_months": c.repeated_within_12_months,
                    "repeat_rate_pct": c.repeat_rate_pct,
                    "months_elapsed": c.months_elapsed,
                    "revenue_per_customer": {
                        currency: [float(v) for v in values]
                        for currency, values in c.revenue_per_customer.items()
                    },
                }
                for c in self.cohorts
            ],
        }


def store_report(
    *,
    store: Store,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> StoreReport:
    """The store-level report as of `now`, of the customers whose first purchase (an
    order neither cancelled nor refunded, `orders.models.NOT_PURCHASES`; orders placed
    after `now` are not seen) was placed in [since, until) (every customer when both
    are None):

    - the repeat-purchase rate within 12 months: of the customers whose first order is
      at least 365 days before `now` (the others are `maturing`), the share whose second
      order came within 365 days of the first, next to seed 003's 32% benchmark;
    - the median days (elapsed time, one decimal) from the first to the second order of
      the customers who have one;
    - by first-order month (calendar months in the store's time zone), the customers and
      their cumulative revenue per customer at months 0..12, only months that have
      ended by `now`; per currency, never added across currencies, the store's first.

    One statement over the store's orders (window functions, grouped aggregates) and one
    index probe for the first order's date: its rows are cohorts x months x currencies,
    whatever the number of orders."""
    zone = ZoneInfo(store.time_zone)
    purchases = Order.objects.filter(store=store, placed_at__lt=now).exclude(
        status__in=NOT_PURCHASES
    )
    first = purchases.aggregate(first=Min("placed_at"))["first"]
    cohorts: list[Cohort] = []
    median: float | None = None
    if first is not None:
        cohorts, median = _cohorts(store, now, since, until, first, zone)
    customers = sum(c.customers for c in cohorts)
    measurable = sum(c.measurable for c in cohorts)
    repeated = sum(c.repeated_within_12_months for c in cohorts)
    present = {currency for c in cohorts for currency in c.revenue_per_customer}
    return StoreReport(
        store=store.slug,
        currency=store.currency,
        time_zone=store.time_zone,
        now=now,
        since=since,
        until=until,
        customers=customers,
        repeat_customers=sum(c.repeat_customers for c in cohorts),
        measurable=measurable,
        maturing=customers - measurable,
        repeated_within_12_months=repeated,
        repeat_rate_pct=_pct(repeated, measurable),
        benchmark_pct=REPEAT_BENCHMARK_PCT,
        benchmark_source=REPEAT_BENCHMARK_SOURCE,
        median_days_to_second_order=median,
        currencies=_store_currency_first(present, store.currency),
        cohorts=cohorts,
    )


def _cohorts(
    store: Store,
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
    first: dt.datetime,
    zone: ZoneInfo,
) -> tuple[list[Cohort], float | None]:
    """The cohorts and the median days to the second order, from one statement."""
    base = _month_number(first.astimezone(zone).date())
    current = _month_number(now.astimezone(zone).date())
    # The moment each month after the first one begins in the store's time zone: an
    # order's month is found by comparing its time with these (a binary search written as
    # nested CASEs), which both databases do natively, time zones and summer time
    # included, without converting a million timestamps.
    starts = [_month_start(number, zone) for number in range(base + 1, current + 1)]
    sql, params = _statement(store, now, since, until, starts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    by_month: dict[int, Cohort] = {}
    revenue: dict[int, dict[str, list[Decimal]]] = defaultdict(dict)
    median: float | None = None
    for kind, cohort, after, currency, a, b, c, d, amount in rows:
        if kind == "cohort":
            month = base + int(cohort)
            by_month[month] = Cohort(
                month=_month_date(month),
                customers=int(a),
                repeat_customers=int(b),
                measurable=int(c),
                repeated_within_12_months=int(d),
                repeat_rate_pct=_pct(int(d), int(c)),
                months_elapsed=min(CLV_MONTHS + 1, current - month),
            )
        elif kind == "revenue":
            sums = revenue[base + int(cohort)].setdefault(currency, [Decimal(0)] * (CLV_MONTHS + 1))
            # SQLite adds decimals as floats: back to cents, exactly.
            sums[int(after)] += Decimal(str(amount)).quantize(_CENT)
        elif amount is not None:
            median = round(float(amount), 1)
    for month, cohort_row in by_month.items():
        shown = cohort_row.months_elapsed
        for currency in _store_currency_first(set(revenue[month]), store.currency):
            cumulative, total = [], Decimal(0)
            for value in revenue[month][currency][:shown]:
                total += value
                cumulative.append(
                    (total / cohort_row.customers).quantize(_CENT, rounding=ROUND_HALF_UP)
                )
            cohort_row.revenue_per_customer[currency] = cumulative
    return [by_month[m] for m in sorted(by_month)], median


def _statement(
    store: Store,
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
    starts: list[dt.datetime],
) -> tuple[str, list[Any]]:
    """The SQL of the report: `p` has every purchase of the store before `now` with its
    month (0 = the month of the store's first order), its customer's first-order month
    (`cohort`) and time, its rank among the customer's purchases and the next one's time
    (one window, one sort); `f` has each customer's first purchase in range with the
    days to the second. Then: per cohort, its customers and repeaters; per cohort, month
    after and currency, the revenue; the median of the days to the second order."""
    adapt = connection.ops.adapt_datetimefield_value
    o = {f: column_of(Order, f) for f in ("store", "customer", "placed_at", "currency", "total")}
    o["id"], o["status"] = column_of(Order, "id"), column_of(Order, "status")
    month_sql, month_params = _bucket(f"o.{o['placed_at']}", [adapt(s) for s in starts])
    if connection.vendor == "postgresql":
        gap, scan, unsorted = "EXTRACT(EPOCH FROM (next_at - placed_at)) / 86400.0", "", ""
    else:
        # SQLite would read the rows through an index, in time or customer order: a
        # million random reads. A unary + keeps a column from using an index, so it
        # reads the table in its own order (a full scan: the embedded default holds one
        # store or a few) and sorts once for the window.
        gap, scan, unsorted = "(julianday(next_at) - julianday(placed_at))", "+", " + 0"
    in_range, range_params = [], []
    if since is not None:
        in_range.append("first_at >= %s")
        range_params.append(adapt(since))
    if until is not None:
        in_range.append("first_at < %s")
        range_params.append(adapt(until))
    where_range = "".join(f" AND {condition}" for condition in in_range)
    cutoff = adapt(now - dt.timedelta(days=REPEAT_WINDOW_DAYS))
    assert len(NOT_PURCHASES) == 2  # the two %s of NOT IN below
    sql = (
        "WITH p AS (SELECT customer_id, placed_at, currency, total, month, "
        "ROW_NUMBER() OVER w AS n, FIRST_VALUE(month) OVER w AS cohort, "
        f"{'FIRST_VALUE(placed_at) OVER w AS first_at, ' if in_range else ''}"
        "LEAD(placed_at) OVER w AS next_at "
        f"FROM (SELECT o.{o['customer']}{unsorted} AS customer_id, "
        f"o.{o['placed_at']} AS placed_at, o.{o['id']} AS order_id, "
        f"o.{o['currency']} AS currency, o.{o['total']} AS total, {month_sql} AS month "
        f"FROM {Order._meta.db_table} o WHERE {scan}o.{o['store']} = %s "
        f"AND {scan}o.{o['placed_at']} < %s AND o.{o['status']} NOT IN (%s, %s)) q "
        "WINDOW w AS (PARTITION BY customer_id ORDER BY placed_at, order_id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)), "
        f"f AS (SELECT cohort, placed_at, {gap} AS gap FROM p WHERE n = 1{where_range}) "
        "SELECT 'cohort', cohort, NULL, NULL, COUNT(*), "
        "SUM(CASE WHEN gap IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN placed_at <= %s THEN 1 ELSE 0 END), "
        # A millisecond's tolerance: a difference of julianday()s (floats) of exactly 365
        # days might come out a hair over it.
        f"SUM(CASE WHEN placed_at <= %s AND gap <= {REPEAT_WINDOW_DAYS}.00000001 "
        "THEN 1 ELSE 0 END), "
        "NULL FROM f GROUP BY cohort "
        "UNION ALL SELECT 'revenue', cohort, month - cohort, currency, COUNT(*), NULL, NULL, "
        f"NULL, SUM(total) FROM p WHERE month - cohort <= {CLV_MONTHS}{where_range} "
        "GROUP BY cohort, month - cohort, currency "
        "UNION ALL SELECT 'median', NULL, NULL, NULL, COUNT(*), NULL, NULL, NULL, AVG(gap) "
        "FROM (SELECT gap, ROW_NUMBER() OVER (ORDER BY gap) AS r, COUNT(*) OVER () AS k "
        "FROM f WHERE gap IS NOT NULL) m WHERE r = (k + 1) / 2 OR r = (k + 2) / 2"
    )
    params = [
        *month_params,
        store.pk,
        adapt(now),
        *NOT_PURCHASES,
        *range_params,
        cutoff,
        cutoff,
        *range_params,
    ]
    return sql, params


def _bucket(column: str, starts: list[Any]) -> tuple[str, list[Any]]:
    """SQL giving how many of the ascending `starts` are at or before `column`: a binary
    search as nested CASEs, about log2(len(starts)) comparisons a row."""

    def search(low: int, high: int) -> tuple[str, list[Any]]:
        # The answer lies in [low, high].
        if low == high:
            return str(low), []
        middle = (low + high + 1) // 2
        below, below_params = search(low, middle - 1)
        above, above_params = search(middle, high)
        return (
            f"CASE WHEN {column} < %s THEN {below} ELSE {above} END",
            [starts[middle - 1], *below_params, *above_params],
        )

    return search(0, len(starts))


def _month_number(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_date(number: int) -> dt.date:
    return dt.date(number // 12, number % 12 + 1, 1)


def _month_start(number: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(_month_date(number), dt.time(), tzinfo=zone)


def _store_currency_first(currencies: set[str], store_currency: str) -> list[str]:
    return sorted(currencies, key=lambda c: (c != store_currency, c))


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None
