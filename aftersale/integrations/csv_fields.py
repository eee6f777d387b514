"""Reading typed values out of one CSV row, collecting every problem instead of stopping at
the first, so an import can tell the merchant all that is wrong with a line at once."""

import datetime as dt
import functools
import zoneinfo
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from aftersale.lib.addresses import InvalidAddress, normalized_address
from aftersale.lib.currencies import is_currency_code

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_validate_url = URLValidator(schemes=["http", "https"])


@functools.cache
def _time_zones() -> frozenset[str]:
    # Listing the zones reads the tz database from disk; once per process is enough.
    return frozenset(zoneinfo.available_timezones())


class RowFields:
    """Typed access to one CSV row; each accessor returns None (or "") for a bad or blank
    value and records why in `errors`."""

    def __init__(self, row: dict[str | None, str | list[str] | None]) -> None:
        self.row = row
        self.errors: list[str] = []
        if row.get(None):
            self.errors.append("more values than there are columns")

    def text(self, name: str, *, required: bool = False) -> str:
        """The stripped value of column `name` ("" when blank or absent)."""
        value = self.row.get(name)
        text = value.strip() if isinstance(value, str) else ""
        if required and not text:
            self.errors.append(f"{name}: a value is required")
        return text

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        """A non-negative amount rounded to cents."""
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            self._bad(name, f"{text!r} is not a number")
            return None
        if not value.is_finite() or value < 0:
            self._bad(name, f"{text!r} must be a number of zero or more")
            return None
        return value.quantize(Decimal("0.01"))

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """A whole number of zero or more."""
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            self._bad(name, f"{text!r} is not a whole number")
            return None
        if value < 0:
            self._bad(name, f"{text!r} must not be negative")
            return None
        return value

    def moment(self, name: str, *, required: bool = False) -> dt.datetime | None:
        """An ISO 8601 date or time, as an aware datetime (a naive one is taken as UTC)."""
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            self._bad(name, f"{text!r} is not an ISO 8601 date/time")
            return None
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    def email(self, name: str, *, required: bool = False) -> str:
        """A valid email address as lib.addresses stores it (lower-cased, IDNA domain)."""
        text = self.text(name, required=required)
        if not text:
            return ""
        try:
            return normalized_address(text)
        except InvalidAddress as error:
            self.errors.append(f"{name}: {text[:100]!r} is {error}")
            return ""

    def url(self, name: str) -> str:
        """An http(s) URL, or ""."""
        text = self.text(name)
        if not text:
            return ""
        try:
            _validate_url(text)
        except ValidationError:
            self.errors.append(f"{name}: {text!r} is not a valid http(s) URL")
            return ""
        return text

    def boolean(self, name: str, *, default: bool) -> bool:
        """yes/no, true/false or 1/0; `default` when blank."""
        text = self.text(name).lower()
        if not text:
            return default
        if text in _TRUE | _FALSE:
            return text in _TRUE
        self.errors.append(f"{name}: {text!r} is not yes/no, true/false or 1/0")
        return default

    def time_zone(self, name: str) -> str:
        """An IANA time zone name such as Europe/Paris, or ""."""
        text = self.text(name)
        if text and text not in _time_zones():
            self.errors.append(f"{name}: {text!r} is not an IANA time zone")
            return ""
        return text

    def currency(self, name: str) -> str:
        """An ISO 4217 currency code, upper-cased, or ""."""
        text = self.text(name).upper()
        if text and not is_currency_code(text):
            self.errors.append(f"{name}: {text!r} is not an ISO 4217 currency code")
            return ""
        return text

    def _bad(self, name: str, reason: str) -> None:
        self.errors.append(f"{name}: {reason}")
