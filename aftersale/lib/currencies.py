"""Which currency codes exist: ISO 4217, as Babel's locale data knows them."""

import functools

from babel.numbers import list_currencies


@functools.cache
def _codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency_code(code: str) -> bool:
    """Whether `code` (upper case, e.g. "EUR") is an ISO 4217 currency code."""
    return code in _codes()
