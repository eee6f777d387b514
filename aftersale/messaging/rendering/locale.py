"""Languages and local formats of emails: which locale a recipient reads, which of a
template's language variants they get, and amounts, dates and durations written the way
that locale writes them (Babel / CLDR)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent

FALLBACK_LANGUAGE = "en"
_PHRASES_FILE = Path(__file__).resolve().parent / "library" / "phrases.json"
# format_timedelta switches to a larger unit once the value reaches this threshold; we
# choose the unit ourselves (days, then hours, then minutes), so never switch.
_NEVER_SWITCH = 1e9
# Formatted values by (value, locale, ...): Babel takes tens of microseconds per value,
# and a batch of emails writes the same prices and dates over and over.
_FORMATS_CACHED = 4096


@functools.lru_cache(maxsize=256)
def parse_locale(code: str) -> Locale | None:
    """The Babel locale named `code` ("de_DE", "de-AT", "ar"), or None when `code` is
    empty or not a locale Babel knows."""
    code = code.strip()
    if not code:
        return None
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def recipient_locale(*, customer_locale: str, store_locale: str) -> Locale:
    """The locale an email is written for: the customer's own, else the store's, else
    English."""
    return (
        parse_locale(customer_locale)
        or parse_locale(store_locale)
        or Locale.parse(FALLBACK_LANGUAGE)
    )


def variant_candidates(locale: Locale) -> list[str]:
    """The template variants to look for, best first: the exact locale ("de_CH"), then
    its language ("de"). The template's base text comes after these."""
    exact = str(locale)
    return [exact, locale.language] if exact != locale.language else [exact]


@functools.lru_cache(maxsize=256)
def formatting_locale(*, wanted: Locale, text_language: str) -> Locale:
    """The locale to format numbers and dates with when the recipient wants `wanted` but
    the template's text is in `text_language`: `wanted` itself when they agree, else the
    text's language in the recipient's country ("en_CA" for a Canadian French reader of an
    English text), so a sentence never mixes two languages' formats."""
    if wanted.language == text_language:
        return wanted
    if wanted.territory:
        regional = parse_locale(f"{text_language}_{wanted.territory}")
        if regional is not None:
            return regional
    return parse_locale(text_language) or Locale.parse(FALLBACK_LANGUAGE)


@functools.cache
def _phrase_table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = json.loads(_PHRASES_FILE.read_text(encoding="utf-8"))
    return table


def phrases(language: str) -> dict[str, str]:
    """The short shared phrases (button labels, footer, coupon terms) in `language`, any
    phrase that language lacks in English."""
    table = _phrase_table()
    return {**table[FALLBACK_LANGUAGE], **table.get(language, {})}


@dataclass(frozen=True)
class Formatter:
    """Writes values for emails: in `locale`, amounts in `currency`, dates in `zone`. It
    remembers what it wrote (a batch of emails writes the same prices and dates over and
    over), so share one for a batch, not for the life of the process."""

    locale: Locale
    currency: str
    zone: dt.tzinfo
    # Written amounts, numbers and percentages by their str() (so Decimal("15") and
    # Decimal("15.0"), equal as keys, keep their own digits), days by day.
    _moneys: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _numbers: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _percents: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _dates: dict[dt.date, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def language(self) -> str:
        return str(self.locale.language)

    @property
    def direction(self) -> str:
        """ "rtl" for right-to-left scripts (Arabic, Hebrew), else "ltr"."""
        return "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def money(self, amount: Decimal) -> str:
        """`amount` of the store's currency, e.g. "$5.00", "5,00 €", "‏5.00 US$"."""
        digits = str(amount)
        text = self._moneys.get(digits)
        if text is None:
            text = self._moneys[digits] = _money(digits, self.currency, self.locale)
        return text

    def number(self, value: Decimal, *, places: int = 1) -> str:
        """`value` with up to `places` decimals, e.g. a rating "4.5" or "4,5"."""
        digits = str(round(value, places))
        text = self._numbers.get(digits)
        if text is None:
            text = self._numbers[digits] = _number(digits, self.locale)
        return text

    def percent(self, value: Decimal) -> str:
        """`value` percent, e.g. "15%", "12,5 %"."""
        digits = str(value)
        text = self._percents.get(digits)
        if text is None:
            text = self._percents[digits] = _percent(digits, self.locale)
        return text

    def date(self, moment: dt.datetime | dt.date) -> str:
        """The day of `moment` (in the email's time zone) in long form, e.g. "March 18,
        2024", "18. März 2024"."""
        if isinstance(moment, dt.datetime):
            moment = moment.astimezone(self.zone).date()
        text = self._dates.get(moment)
        if text is None:
            text = self._dates[moment] = _date(moment, self.locale)
        return text

    def time_until(self, moment: dt.datetime, *, now: dt.datetime) -> str:
        """How far away `moment` is, in whole days, else hours, else minutes: "in 14
        days", "in 5 hours", "in 3 Tagen"; never less than "in 1 minute", even for a moment
        already past."""
        delta = max(moment - now, dt.timedelta(0))
        unit: Literal["day", "hour", "minute"] = "minute"
        if delta >= dt.timedelta(days=1):
            unit = "day"
        elif delta >= dt.timedelta(hours=1):
            unit = "hour"
        return _timedelta(delta, unit, self.locale)


# Amounts arrive as their str() so Decimal("15") and Decimal("15.0"), equal as keys,
# keep their own digits.
@functools.lru_cache(maxsize=_FORMATS_CACHED)
def _money(amount: str, currency: str, locale: Locale) -> str:
    return str(format_currency(Decimal(amount), currency, locale=locale))


@functools.lru_cache(maxsize=_FORMATS_CACHED)
def _number(value: str, locale: Locale) -> str:
    return str(format_decimal(Decimal(value), locale=locale))


@functools.lru_cache(maxsize=_FORMATS_CACHED)
def _percent(value: str, locale: Locale) -> str:
    return str(format_percent(Decimal(value) / 100, locale=locale, decimal_quantization=False))


@functools.lru_cache(maxsize=_FORMATS_CACHED)
def _date(day: dt.date, locale: Locale) -> str:
    return str(format_date(day, "long", locale=locale))


@functools.lru_cache(maxsize=_FORMATS_CACHED)
def _timedelta(delta: dt.timedelta, unit: Literal["day", "hour", "minute"], locale: Locale) -> str:
    return str(
        format_timedelta(
            delta, granularity=unit, threshold=_NEVER_SWITCH, add_direction=True, locale=locale
        )
    )
