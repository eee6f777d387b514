"""Filters of the flow report page: counts with thousands separators, rates with their
counts ("12.5 % (31)"), the same text as aftersale.dashboard.reports.rate."""

from decimal import Decimal

from django import template

from aftersale.dashboard.reports import rate as _rate
from aftersale.dashboard.reports import revenue_text
from aftersale.messaging.models import SkipReason
from aftersale.stores.models import Store

register = template.Library()


@register.filter
def count(value: int) -> str:
    """1234 -> "1,234"."""
    return f"{value:,}"


@register.filter
def rate(pct: float, of: int) -> str:
    """A percentage and the count it is of: {{ m.read_pct|rate:m.read }} -> "12.5 % (31)"."""
    return _rate(pct, of)


@register.filter
def humanize_reason(reason: str) -> str:
    """An exit reason as words: "purchased_again" -> "Purchased again"."""
    return reason.replace("_", " ").capitalize() or "Other"


@register.filter
def revenue(by_currency: dict[str, Decimal], store: Store) -> str:
    """Amounts by currency as `store`'s locale writes them, never added across
    currencies: "$120.00 + €35.50" (zero in the store's currency when there is none)."""
    return revenue_text(by_currency, store.currency, store)


@register.filter
def skip_reason(reason: str) -> str:
    """A skip reason as words: "smart_sending" -> "Smart sending: another email too
    recently" (messaging's SkipReason labels; "unrecorded" for emails skipped before
    reasons were kept)."""
    if reason in SkipReason.values:
        return str(SkipReason(reason).label)
    return "Reason not recorded" if reason == "unrecorded" else humanize_reason(reason)
