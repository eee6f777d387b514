"""Amounts as the store's locale writes them, for every report page."""

from decimal import Decimal

from babel.numbers import format_currency

from aftersale.stores.models import Store


def money(amount: Decimal | float, currency: str, store: Store) -> str:
    """An amount as the store's locale writes it in `currency`: "$1,234.50"."""
    return str(format_currency(Decimal(str(amount)), currency, locale=store.locale))
