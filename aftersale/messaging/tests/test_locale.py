"""Formats and languages: amounts, dates and durations as the recipient's locale writes
them, and which language variant of a template a recipient gets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from babel import Locale

from aftersale.messaging.rendering.locale import (
    Formatter,
    formatting_locale,
    phrases,
    recipient_locale,
    variant_candidates,
)

NOW = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def _fmt(code: str, currency: str = "EUR") -> Formatter:
    return Formatter(locale=Locale.parse(code), currency=currency, zone=dt.UTC)


@pytest.mark.parametrize(
    ("code", "money", "date", "until"),
    [
        ("en_US", "€1,234.50", "March 18, 2024", "in 14 days"),
        ("de_DE", "1.234,50\u00a0€", "18. März 2024", "in 14 Tagen"),
        ("ar", "\u200f1,234.50\u00a0€", "18 مارس 2024", "خلال 14 يومًا"),
    ],
)
def test_amounts_dates_and_durations_follow_the_locale(
    code: str, money: str, date: str, until: str
) -> None:
    fmt = _fmt(code)
    assert fmt.money(Decimal("1234.5")) == money
    assert fmt.date(NOW + dt.timedelta(days=14)) == date
    assert fmt.time_until(NOW + dt.timedelta(days=14), now=NOW) == until


def test_durations_under_a_day_are_in_hours_then_minutes() -> None:
    fmt = _fmt("en")
    assert fmt.time_until(NOW + dt.timedelta(hours=5, minutes=10), now=NOW) == "in 5 hours"
    assert fmt.time_until(NOW + dt.timedelta(minutes=20), now=NOW) == "in 20 minutes"


def test_dates_are_the_day_in_the_email_time_zone() -> None:
    late_evening_utc = dt.datetime(2024, 3, 18, 23, 30, tzinfo=dt.UTC)
    berlin = Formatter(
        locale=Locale.parse("de"), currency="EUR", zone=dt.timezone(dt.timedelta(hours=1))
    )
    assert berlin.date(late_evening_utc) == "19. März 2024"


def test_arabic_and_hebrew_read_right_to_left() -> None:
    assert _fmt("ar").direction == _fmt("he").direction == "rtl"
    assert _fmt("de").direction == "ltr"


def test_the_customer_locale_wins_then_the_store_then_english() -> None:
    assert str(recipient_locale(customer_locale="de-AT", store_locale="en_US")) == "de_AT"
    assert str(recipient_locale(customer_locale="", store_locale="fr_FR")) == "fr_FR"
    assert str(recipient_locale(customer_locale="xx_YY", store_locale="nonsense")) == "en"


def test_variants_are_looked_up_exact_locale_first_then_language() -> None:
    assert variant_candidates(Locale.parse("de_CH")) == ["de_CH", "de"]
    assert variant_candidates(Locale.parse("ar")) == ["ar"]


def test_a_text_in_another_language_is_formatted_in_that_language_for_the_same_country() -> None:
    wanted = Locale.parse("fr_CA")
    assert str(formatting_locale(wanted=wanted, text_language="en")) == "en_CA"
    assert formatting_locale(wanted=wanted, text_language="fr") == wanted


def test_phrases_missing_in_a_language_fall_back_to_english() -> None:
    assert phrases("de")["unsubscribe"] == "Abmelden"
    assert phrases("fr")["unsubscribe"] == "Unsubscribe"
    assert set(phrases("ar")) == set(phrases("en")) == set(phrases("he"))
