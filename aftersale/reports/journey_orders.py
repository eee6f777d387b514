"""The orders customers placed during their journeys through flows, in SQL.

One join of the journeys with their customers' later orders (found by the orders'
(customer, placed_at) index from the moment of entry) serves the report twice: the
purchases while in the flow, (entered, left or `now`] in any currency, and the holdout
comparison's revenue of each matured journey in its window, (entered, entered +
window] in the store's currency (reports.experiments). On a million journeys the join
is most of the report's work, so it is done once for both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from django.db import connection

from aftersale.flows.covariates import Covariates
from aftersale.flows.models import Enrollment
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.reports.days import day_sql
from aftersale.reports.sql import column_of

COVARIATES = tuple(f.name for f in fields(Covariates))
_XS = ", ".join(f"x{i}" for i in range(len(COVARIATES)))


@dataclass(frozen=True)
class ExperimentWindow:
    """Which journeys the holdout compares and for how long: those that entered by
    `matured_by`, each followed for `length` after entry, in orders of `currency`."""

    matured_by: dt.datetime
    length: dt.timedelta
    currency: str


def journey_orders_sql(
    *,
    flow_ids: list[int],
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
    zone: str,
    window: ExperimentWindow | None,
) -> tuple[str, list[Any]]:
    """SQL `WITH jo AS (...)`, with its parameters, to put a statement after: one row
    per (journey, order) pair of the journeys of `flow_ids` that started in [since,
    until), for every purchase (not cancelled or refunded) the customer placed after
    entering and either while in the flow or in the journey's experiment window. Its
    columns: flow_id, journey, customer_id, holdout, variants, x0..x2 (COVARIATES), day
    (reports.days.day_sql in `zone`), currency, total, in_flow (placed by leaving or
    `now`) and in_window (in the window of a matured journey, in its currency; always
    false when `window` is None)."""
    e = {
        f: "e." + column_of(Enrollment, f)
        for f in ("id", "flow", "customer", "entered_at", "ended_at", "holdout", "ab_variants")
    }
    o = {
        f: "o." + column_of(Order, f)
        for f in ("customer", "placed_at", "currency", "total", "status")
    }
    adapt = connection.ops.adapt_datetimefield_value
    day, day_params = day_sql(o["placed_at"], zone)
    in_flow = f"{o['placed_at']} <= COALESCE({e['ended_at']}, %s)"
    in_window, window_params = _in_window(e, o, window)
    xs = ", ".join(f"e.{column_of(Enrollment, name)} AS x{i}" for i, name in enumerate(COVARIATES))
    in_range, params = entered_in(e["entered_at"], since=since, until=until)
    conditions = [f"{e['flow']} IN ({', '.join(['%s'] * len(flow_ids))})", *in_range]
    params = [*flow_ids, *params]
    sql = (
        f"WITH jo AS MATERIALIZED (SELECT {e['flow']} AS flow_id, {e['id']} AS journey, "
        f"{o['customer']} AS customer_id, {e['holdout']} AS holdout, "
        f"{e['ab_variants']} AS variants, {xs}, {day} AS day, {o['currency']} AS currency, "
        f"{o['total']} AS total, {in_flow} AS in_flow, {in_window} AS in_window "
        f"FROM {Enrollment._meta.db_table} e JOIN {Order._meta.db_table} o "
        f"ON {o['customer']} = {e['customer']} AND {o['placed_at']} > {e['entered_at']} "
        f"AND {o['status']} NOT IN (%s, %s) AND ({in_flow} OR {in_window}) "
        f"WHERE {' AND '.join(conditions)})"
    )
    assert len(NOT_PURCHASES) == 2  # the two %s of NOT IN above
    now_param = adapt(now)
    return sql, [
        *day_params,
        now_param,
        *window_params,
        *NOT_PURCHASES,
        now_param,
        *window_params,
        *params,
    ]


def entered_in(
    column: str, *, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[list[str], list[Any]]:
    """SQL conditions (with their parameters) that the moment in `column` is in [since,
    until), an open end (None) leaving that side unbounded."""
    conditions, params = [], []
    for bound, op in ((since, ">="), (until, "<")):
        if bound is not None:
            conditions.append(f"{column} {op} %s")
            params.append(connection.ops.adapt_datetimefield_value(bound))
    return conditions, params


def _in_window(
    e: dict[str, str], o: dict[str, str], window: ExperimentWindow | None
) -> tuple[str, list[Any]]:
    if window is None:
        return "(1 = 0)", []
    within = _within(o["placed_at"], e["entered_at"], seconds=int(window.length.total_seconds()))
    sql = f"({e['entered_at']} <= %s AND {within} AND {o['currency']} = %s)"
    return sql, [connection.ops.adapt_datetimefield_value(window.matured_by), window.currency]


def _within(placed: str, entered: str, *, seconds: int) -> str:
    """SQL of: the moment `placed` is at most `seconds` after the moment `entered`."""
    if connection.vendor == "postgresql":
        return f"{placed} <= {entered} + INTERVAL '{seconds:d} seconds'"
    # SQLite keeps moments as text: compare their difference in days, as julianday's
    # doubles (to some 50 microseconds), which costs a fraction of shifting the text
    # with strftime for every journey.
    return f"(julianday({placed}) - julianday({entered})) <= {seconds / 86400!r}"


# The revenue y of each matured journey that bought in its window, over `jo`, with its
# holdout, variants and covariates. The revenue is a float: statistics need no exact
# cents, and PostgreSQL adds doubles far faster than numerics (SQLite adds its decimals
# as floats anyway).
WINDOW_REVENUE = (
    "SELECT journey, holdout, variants, SUM(CAST(total AS DOUBLE PRECISION)) AS y, "
    f"{_XS} FROM jo WHERE in_window GROUP BY journey, holdout, variants, {_XS}"
)


@dataclass(frozen=True)
class JourneyOrders:
    """What the report reads of the orders in journeys: `buyers`, the customers who
    bought while in the flow; `by_day`, those purchases as (day_sql's day value,
    currency, revenue, orders) rows; `window_buyers`, the matured journeys that bought
    in their window grouped by (holdout, variants, y), with their number and the sums of
    x0..x2 (none without an experiment window)."""

    buyers: int
    by_day: list[tuple[Any, str, Any, int]]
    window_buyers: list[tuple[Any, ...]]


def journey_orders(
    *,
    flow_id: int,
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
    zone: str,
    window: ExperimentWindow | None,
) -> JourneyOrders:
    """The orders of the flow's journeys that started in [since, until), as
    JourneyOrders says: one statement (journey_orders_sql's join, grouped three ways)."""
    sql, params = journey_orders_sql(
        flow_ids=[flow_id], now=now, since=since, until=until, zone=zone, window=window
    )
    # Every NULL is typed, so that PostgreSQL can unite the branches' columns: (kind,
    # day, currency, revenue, orders or customers, holdout, variants, y, sums of x).
    nulls = ", ".join(["CAST(NULL AS DOUBLE PRECISION)"] * len(COVARIATES))
    sql += (
        " SELECT 0, CAST(NULL AS DATE), CAST(NULL AS TEXT), CAST(NULL AS NUMERIC), "
        "COUNT(DISTINCT customer_id), CAST(NULL AS BOOLEAN), CAST(NULL AS TEXT), "
        f"CAST(NULL AS DOUBLE PRECISION), {nulls} FROM jo WHERE in_flow "
        "UNION ALL SELECT 1, day, currency, SUM(total), COUNT(*), CAST(NULL AS BOOLEAN), "
        f"CAST(NULL AS TEXT), CAST(NULL AS DOUBLE PRECISION), {nulls} FROM jo WHERE in_flow "
        "GROUP BY day, currency "
        "UNION ALL SELECT 2, CAST(NULL AS DATE), CAST(NULL AS TEXT), CAST(NULL AS NUMERIC), "
        f"n, holdout, variants, y, {_XS} FROM (SELECT holdout, variants, y, COUNT(*) AS n, "
        + ", ".join(f"SUM(CAST(x{i} AS DOUBLE PRECISION)) AS x{i}" for i in range(len(COVARIATES)))
        + f" FROM ({WINDOW_REVENUE}) w GROUP BY holdout, variants, y) b"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return JourneyOrders(
        buyers=next(int(row[4]) for row in rows if row[0] == 0),
        by_day=[(row[1], row[2], row[3], int(row[4])) for row in rows if row[0] == 1],
        window_buyers=[
            (bool(row[5]), row[6], row[7], int(row[4]), *row[8:]) for row in rows if row[0] == 2
        ],
    )
