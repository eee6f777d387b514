"""The day in a store's time zone of each moment a report groups by, computed in SQL.

PostgreSQL converts moments to a zone's dates natively. SQLite would call a Python
function for every row (Django's datetime cast), holding the GIL each time; there the
statement groups by the UTC quarter-hour instead, and `day_of` turns each quarter-hour
into its local date. Every UTC offset in use today is a multiple of 15 minutes, so a
quarter-hour never straddles a local midnight, and the rows to convert are bounded by
the date range, not by the number of orders.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection


def day_sql(column: str, zone: str) -> tuple[str, tuple[Any, ...]]:
    """SQL (with its parameters) of a value that `day_of` turns into the date in `zone`
    of the moment in `column`; rows with the same date may give different values."""
    if connection.vendor == "sqlite":
        # Moments are text "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC.
        return (
            f"substr({column}, 1, 14) || (CAST(substr({column}, 15, 2) AS INTEGER) / 15)",
            (),
        )
    sql, params = connection.ops.datetime_cast_date_sql(column, (), zone)
    return sql, tuple(params)


def day_of(value: object, zone: str) -> dt.date:
    """The date in `zone` of a value day_sql's SQL gave."""
    if isinstance(value, dt.date):
        return value
    return _quarter_hour_day(str(value), zone)


@lru_cache(maxsize=65_536)
def _quarter_hour_day(bucket: str, zone: str) -> dt.date:
    start = dt.datetime.strptime(bucket[:14], "%Y-%m-%d %H:").replace(
        minute=15 * int(bucket[14:]), tzinfo=dt.UTC
    )
    return start.astimezone(ZoneInfo(zone)).date()
