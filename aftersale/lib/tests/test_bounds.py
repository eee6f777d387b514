import datetime as dt
from decimal import Decimal

from aftersale.lib.bounds import (
    EARLIEST_BIRTHDAY,
    MAX_AMOUNT,
    amount_problem,
    day_problem,
    moment_problem,
)


def test_amounts_within_the_columns_are_accepted():
    assert amount_problem(Decimal("0")) is None
    assert amount_problem(Decimal("19.90")) is None
    assert amount_problem(MAX_AMOUNT) is None


def test_amounts_the_columns_cannot_hold_are_refused_with_the_reason():
    assert amount_problem(Decimal("10000000000")) == f"must be at most {MAX_AMOUNT}"
    assert amount_problem(Decimal("-1")) == "must not be negative"
    assert amount_problem(Decimal("1.001")) == "must have at most 2 decimal places"
    assert amount_problem(Decimal("NaN")) == "not a number"
    assert amount_problem(Decimal("Infinity")) == "not a number"


def test_dates_whose_offset_overflows_are_refused_not_crashed_on():
    far = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-14)))
    early = dt.datetime(1, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=14)))
    assert moment_problem(far) == "must lie between 1970-01-01 and 2200-01-01"
    assert moment_problem(early) == "must lie between 1970-01-01 and 2200-01-01"
    assert moment_problem(dt.datetime(2017, 3, 1, tzinfo=dt.UTC)) is None


def test_calendar_dates_outside_the_years_kept_are_refused():
    assert day_problem(dt.date(2024, 3, 1)) is None
    assert day_problem(dt.date(9999, 12, 31)) == "must lie between 1970-01-01 and 2200-01-01"
    assert day_problem(dt.date(1950, 5, 17)) is not None
    assert day_problem(dt.date(1950, 5, 17), earliest=EARLIEST_BIRTHDAY) is None
