"""Reading typed values out of one CSV row, collecting every problem instead of stopping at
the first, so an import can tell the merchant all that is wrong with a line at once."""

import datetime as dt
import functools
import zoneinfo
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from aftersale.lib.addresses import InvalidAddress, normalized_address
from aftersale.lib.bounds import MAX_QUANTITY, MAX_STOCK, MIN_STOCK, amount_problem, moment_problem
from aftersale.lib.currencies import is_currency_code
from aftersale.lib.text import has_unprintable, single_line_text

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_validate_url = URLValidator(schemes=["http", "https"])
_CENT = Decimal("0.01")
# How much of a bad value an error quotes: enough to find it, never a 128 KB cell.
_SHOWN = 40


# A customer's address comes back on each of their rows: checked once per spelling.
_normalized_address = functools.lru_cache(maxsize=100_000)(normalized_address)


@functools.cache
def _time_zones() -> frozenset[str]:
    # Listing the zones reads the tz database from disk; once per process is enough.
    return frozenset(zoneinfo.available_timezones())


class RowFields:
    """Typed access to one CSV row; each accessor returns None (or "") for a bad or blank
    value and records why in `errors`."""

    def __init__(
        self,
        values: dict[str, str],
        errors: list[str] | None = None,
        *,
        time_zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.values = values
        self.errors: list[str] = [] if errors is None else errors
        # The zone a date/time written without an offset is read in (the store's).
        self.zone = time_zone

    def text(self, name: str, *, required: bool = False, max_length: int | None = None) -> str:
        """The value of column `name` on one line, control characters removed (lib.text),
        "" when blank or absent; longer than `max_length` is an error."""
        raw = self.values.get(name)
        if not raw and not required:
            return ""  # absent or blank: most optional columns of most rows
        if raw and raw.isascii() and raw.isprintable():
            text = raw.strip()  # most values: single_line_text's own first case, inline
        else:
            text = single_line_text(raw or "")
        if required and not text:
            self.errors.append(f"{name}: a value is required")
        if max_length is not None and len(text) > max_length:
            self._bad(name, f"{len(text)} characters is longer than the {max_length} allowed")
            return ""
        return text

    def identifier(self, name: str, *, max_length: int) -> str:
        """A required id, stripped; blank, whitespace only, holding a control character or
        longer than `max_length` is an error (an id is never changed to fit)."""
        raw = self.values.get(name) or ""
        if raw.isascii() and raw.isprintable() and raw:
            text = raw.strip()
            if text and len(text) <= max_length:
                return text  # most ids, read without a further call
            return self.text(name, required=True, max_length=max_length)
        if has_unprintable(raw) or single_line_text(raw) != raw.strip():
            self._bad(name, f"{_shown(raw)} holds a control character")
            return ""
        return self.text(name, required=True, max_length=max_length)

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        """An amount of zero or more, rounded to cents, within lib.bounds.MAX_AMOUNT."""
        text = self.text(name, required=required)
        if not text:
            return None
        value, problem = amount(text)
        if problem:
            self._bad(name, problem)
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """A whole number from 0 to lib.bounds.MAX_QUANTITY."""
        return self._whole(name, 0, MAX_QUANTITY, required=required)

    def signed_integer(self, name: str, *, required: bool = False) -> int | None:
        """A whole number within ±lib.bounds.MAX_QUANTITY (negative: returned)."""
        return self._whole(name, -MAX_QUANTITY, MAX_QUANTITY, required=required)

    def stock(self, name: str) -> int | None:
        """A whole number within lib.bounds' stock range (negative: oversold), or None."""
        return self._whole(name, MIN_STOCK, MAX_STOCK, required=False)

    def _whole(self, name: str, low: int, high: int, *, required: bool) -> int | None:
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            self._bad(name, f"{_shown(text)} is not a whole number")
            return None
        if not low <= value <= high:
            self._bad(name, f"{_shown(text)} must lie between {low} and {high}")
            return None
        return value

    def moment(self, name: str, *, required: bool = False) -> dt.datetime | None:
        """An ISO 8601 date or time, as an aware datetime (one without an offset is read in
        the row's time zone, UTC unless given)."""
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            self._bad(name, f"{_shown(text)} is not an ISO 8601 date/time")
            return None
        value = value if value.tzinfo else value.replace(tzinfo=self.zone)
        if problem := moment_problem(value):
            self._bad(name, f"{_shown(text)} {problem}")
            return None
        return value

    def email(self, name: str, *, required: bool = False) -> str:
        """A valid email address as lib.addresses stores it (lower-cased, IDNA domain)."""
        text = self.text(name, required=required)
        if not text:
            return ""
        try:
            return _normalized_address(text)
        except InvalidAddress as error:
            self._bad(name, f"{_shown(text)} is {error}")
            return ""

    def url(self, name: str, *, max_length: int) -> str:
        """An http(s) URL of at most `max_length` characters, or ""."""
        text = self.text(name, max_length=max_length)
        if not text:
            return ""
        try:
            _validate_url(text)
        except ValidationError:
            self._bad(name, f"{_shown(text)} is not a valid http(s) URL")
            return ""
        return text

    def boolean(self, name: str, *, default: bool) -> bool:
        """yes/no, true/false or 1/0; `default` when blank."""
        text = self.text(name).lower()
        if not text:
            return default
        if text in _TRUE | _FALSE:
            return text in _TRUE
        self._bad(name, f"{_shown(text)} is not yes/no, true/false or 1/0")
        return default

    def time_zone(self, name: str) -> str:
        """An IANA time zone name such as Europe/Paris, or ""."""
        text = self.text(name)
        if text and text not in _time_zones():
            self._bad(name, f"{_shown(text)} is not an IANA time zone")
            return ""
        return text

    def currency(self, name: str) -> str:
        """An ISO 4217 currency code, upper-cased, or ""."""
        text = self.text(name).upper()
        if text and not is_currency_code(text):
            self._bad(name, f"{_shown(text)} is not an ISO 4217 currency code")
            return ""
        return text

    def _bad(self, name: str, reason: str) -> None:
        self.errors.append(f"{name}: {reason}")


@functools.lru_cache(maxsize=100_000)
def amount(text: str) -> tuple[Decimal | None, str]:
    """The amount `text` (stripped) writes, rounded to cents, or None and why it is none. Prices
    come back on line after line of a history file: each spelling is read once."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{_shown(text)} is not a number"
    rounded = value.quantize(_CENT) if value.is_finite() and abs(value) < 2**64 else value
    if problem := amount_problem(rounded):
        return None, f"{_shown(text)} {problem}"
    return rounded, ""


def _shown(text: str) -> str:
    """`text` quoted for an error message, cut to its start when long."""
    return repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}... ({len(text)} characters)"
