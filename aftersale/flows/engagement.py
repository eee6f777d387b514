"""Simulated engagement for backtests: a known effect the holdout comparison must recover.

In a backtest nobody reads an email, so a flow's true effect is zero (the A/A
calibration relies on it). `Engagement(p, q, value, seed)` injects a known one: each
recipient journey (not held out, sent at least one email) clicks with probability `p`,
and a clicker buys one extra order of `value` with probability `q`, placed an hour after
the journey's first email. The expected incremental revenue is then p * q * value per
recipient journey sent an email.

The draws are counter-based, like the holdout's: two uniforms from blake2b of the seed
and the customer, so a customer draws the same whatever the order journeys are processed
in, in a backtest (`add_engagement_orders`) or in an analysis of recorded journeys
(`reports.calibration`), and another seed is an independent draw. (A customer with
several journeys in one flow draws the same for each, as the holdout's hash holds them
in one group.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Min

from aftersale.customers.records import CustomerRecord
from aftersale.flows.models import Enrollment, Flow
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.records import OrderRecord
from aftersale.orders.services import ingest_orders

_SPAN = float(2**64)
# How long after the first email a simulated clicker's extra order is placed.
ORDER_AFTER_EMAIL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Engagement:
    """A recipient clicks with probability `click`, a clicker buys one extra order of
    `value` (the store's currency) with probability `buy`; `seed` picks the draws."""

    click: float
    buy: float
    value: Decimal
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.click <= 1 and 0 <= self.buy <= 1):
            raise ValueError("click and buy are probabilities, between 0 and 1")
        if self.value < 0:
            raise ValueError("the extra order's value cannot be negative")

    @property
    def expected_value(self) -> float:
        """The extra revenue one recipient brings in expectation: click * buy * value."""
        return self.click * self.buy * float(self.value)

    def buys(self, *, customer_id: int) -> bool:
        """Whether `customer_id`, a recipient, clicks and then buys the extra order (the
        same answer every time for one seed)."""
        digest = hashlib.blake2b(f"{self.seed}:{customer_id}".encode(), digest_size=16).digest()
        clicked = int.from_bytes(digest[:8], "big") / _SPAN < self.click
        bought = int.from_bytes(digest[8:], "big") / _SPAN < self.buy
        return clicked and bought


def add_engagement_orders(*, flow: Flow, engagement: Engagement, now: dt.datetime) -> int:
    """Add, through orders.services, the extra orders `engagement` simulates for the
    flow's recipient journeys: not held out, sent at least one email (a message not
    skipped), drawing a click and a buy; each order of `engagement.value` in the store's
    currency placed ORDER_AFTER_EMAIL after the journey's first email. For a backtest's
    throwaway database only: the orders are as real as any other. Returns how many."""
    first_email = dict(
        Message.objects.filter(flow=flow, enrollment__isnull=False)
        .exclude(status=MessageStatus.SKIPPED)
        .order_by()
        .values("enrollment_id")
        .annotate(at=Min("send_after"))
        .values_list("enrollment_id", "at")
    )
    journeys = (
        Enrollment.objects.filter(flow=flow, holdout=False, pk__in=list(first_email))
        .order_by("pk")
        .values_list("pk", "customer_id", "customer__external_id", "customer__email")
    )
    records = [
        OrderRecord(
            external_id=f"engagement-{flow.pk}-{engagement.seed}-{pk}",
            customer=CustomerRecord(external_id=external_id, email=email),
            placed_at=first_email[pk] + ORDER_AFTER_EMAIL,
            total=engagement.value,
            currency=flow.store.currency,
        )
        for pk, customer_id, external_id, email in journeys
        if engagement.buys(customer_id=customer_id)
    ]
    if records:
        ingest_orders(store=flow.store, records=records, now=now)
    return len(records)
