"""Amounts as the store's locale writes them, for every report page."""

from decimal import Decimal

from babel.numbers import format_currency

from aftersale.stores.models import Store


def money(amount: Decimal | float, currency: str, store: Store) -> str:
    """An amount as the store's locale writes it in `currency`, with the currency's code
    wherever the locale writes a symbol that could be another's: "$1,234.50 USD"."""
    text = str(format_currency(Decimal(str(amount)), currency, locale=store.locale))
    return text if currency in text else f"{text} {currency}"
