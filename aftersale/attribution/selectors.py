"""The orders each email earned, as the reports count them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Sum, Value, When

from aftersale.attribution.models import Attribution
from aftersale.orders.models import NOT_PURCHASES

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Earned:
    """The purchases credited to one step's emails in one currency: how many orders,
    and their revenue net of refunds."""

    orders: int
    revenue: Decimal


def earned_by_step(
    *, flow_id: int, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[int | None, dict[str, Earned]]:
    """The purchases credited to the emails of flow `flow_id`, by step index and
    currency, for the journeys that started in [since, until) (None: open). A
    cancelled or fully refunded order earns nothing; a partial refund reduces the
    revenue. One grouped query on the attributions' (flow, step) index."""
    credited = Attribution.objects.filter(flow_id=flow_id).exclude(order__status__in=NOT_PURCHASES)
    if since is not None:
        credited = credited.filter(enrollment__entered_at__gte=since)
    if until is not None:
        credited = credited.filter(enrollment__entered_at__lt=until)
    money = DecimalField(max_digits=12, decimal_places=2)
    net = ExpressionWrapper(F("order__total") - F("order__refunded_total"), output_field=money)
    rows = (
        credited.values_list("step_index", "order__currency")
        .annotate(
            n=Count("pk"),
            revenue=Sum(
                Case(
                    When(order__total__gt=F("order__refunded_total"), then=net),
                    default=Value(Decimal("0")),
                    output_field=money,
                )
            ),
        )
        .order_by()
    )
    earned: dict[int | None, dict[str, Earned]] = defaultdict(dict)
    for step_index, currency, n, revenue in rows:
        # SQLite adds decimals as floats: back to cents, exactly.
        earned[step_index][currency] = Earned(
            orders=n, revenue=Decimal(str(revenue or 0)).quantize(_CENT)
        )
    return dict(earned)
