"""The ranges every ingest path (API, CSV, platform webhooks) holds numbers and dates to.

They follow the columns the values are stored in (orders.models, catalog.models): a
value outside them is refused where it arrives, with its field or line, instead of
failing the database write that would roll back the whole batch.
"""

import datetime as dt
from decimal import Decimal

# DecimalField(max_digits=12, decimal_places=2): prices, line totals, order totals.
MAX_AMOUNT = Decimal("9999999999.99")
AMOUNT_DECIMAL_PLACES = 2
# PositiveIntegerField holds up to 2**31 - 1 on every database; no basket line comes near.
MAX_QUANTITY = 1_000_000
# IntegerField (signed 32-bit on PostgreSQL).
MIN_STOCK = -(2**31)
MAX_STOCK = 2**31 - 1
# Every date an order, checkout or event can carry, in UTC: wide enough for any real
# history, narrow enough that no time zone offset overflows Python's datetime.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# Calendar dates (a delivery day) keep to the same years; a birthday may lie before 1970.
EARLIEST_DAY = EARLIEST.date()
EARLIEST_BIRTHDAY = dt.date(1900, 1, 1)
# The longest lists one request may carry: far beyond any real basket or catalog page,
# small enough that one request cannot hold a worker for long or fill its memory.
MAX_LINE_ITEMS = 1_000
MAX_PRODUCTS_PER_BATCH = 1_000
MAX_DISCOUNT_CODES = 50
# Free-form JSON (event properties) nests at most this deep.
MAX_JSON_DEPTH = 20


def amount_problem(value: Decimal) -> str | None:
    """Why `value` cannot be stored as an amount (negative, too large, more than two
    decimal places, not a number), or None when it can."""
    if not value.is_finite():
        return "not a number"
    if value < 0:
        return "must not be negative"
    if value > MAX_AMOUNT:
        return f"must be at most {MAX_AMOUNT}"
    if value != value.quantize(Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES)):
        return f"must have at most {AMOUNT_DECIMAL_PLACES} decimal places"
    return None


def moment_problem(value: dt.datetime) -> str | None:
    """Why `value` (an aware datetime) is outside the dates Aftersale keeps, or None."""
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        return f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    if not EARLIEST <= utc < LATEST:
        return f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    return None


def day_problem(value: dt.date, *, earliest: dt.date = EARLIEST_DAY) -> str | None:
    """Why the calendar date `value` is outside `earliest` (1970 unless given) to the
    last day before LATEST, or None."""
    if not earliest <= value < LATEST.date():
        return f"must lie between {earliest:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    return None
