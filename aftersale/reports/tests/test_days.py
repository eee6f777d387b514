"""A report's days are the store's local dates, whatever the zone's offset or DST."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from aftersale.reports.days import day_of, day_sql

ZONES = ["UTC", "America/New_York", "Asia/Kathmandu", "Australia/Adelaide", "Pacific/Chatham"]


def _moments() -> list[dt.datetime]:
    """Every 7 minutes around New York's spring DST change and Adelaide's autumn one,
    and around the turn of a year."""
    starts = [
        dt.datetime(2024, 3, 10, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 4, 6, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2023, 12, 31, 6, 0, tzinfo=dt.UTC),
    ]
    return [
        start + dt.timedelta(minutes=7 * i, seconds=i % 60) for start in starts for i in range(400)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ZONES)
def test_day_of_gives_the_local_date_of_every_moment(zone):
    with connection.cursor() as cursor:
        for moment in _moments():
            text = connection.ops.adapt_datetimefield_value(moment)
            # The moment as its column would hold it (the SQL may name the column twice).
            column = f"CAST('{text}' AS TIMESTAMP WITH TIME ZONE)"
            sql, params = day_sql(
                column if connection.vendor == "postgresql" else f"'{text}'", zone
            )
            cursor.execute(f"SELECT {sql}", params)
            (bucket,) = cursor.fetchone()
            assert day_of(bucket, zone) == moment.astimezone(ZoneInfo(zone)).date(), moment
