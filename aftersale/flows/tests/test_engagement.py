"""A backtest's simulated engagement: the known effect the holdout comparison must find."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Min

from aftersale.flows.backtest import run_backtest
from aftersale.flows.engagement import ORDER_AFTER_EMAIL, Engagement
from aftersale.flows.models import Enrollment, Flow
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, place_order
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.stores.models import Store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _backtested(store: Store, engagement: Engagement | None) -> tuple[Flow, int]:
    add_templates(store, T0 - DAY, "thanks")
    flow = install_flow(
        store=store,
        slug="thanks",
        definition={
            "name": "Thanks",
            "trigger": {"event": "first_purchase"},
            "holdout_percent": 40,
            "guards": {"smart_sending_hours": 0, "quiet_hours": None},
            "steps": [{"type": "delay", "hours": 2}, {"type": "email", "template": "thanks"}],
        },
        now=T0 - DAY,
    )
    for i in range(60):
        place_order(store, order_id=f"o{i}", customer=f"c{i}", at=T0 + i * dt.timedelta(hours=3))
    clock = VirtualClock(T0 - DAY)
    with use_clock(clock):
        summary = run_backtest(
            flow=flow, start=T0 - DAY, end=T0 + 10 * DAY, clock=clock, engagement=engagement
        )
    return flow, summary.engagement_orders


def test_the_engagement_option_adds_exactly_the_simulated_orders_to_recipients_only(
    store: Store,
) -> None:
    engagement = Engagement(click=0.7, buy=0.7, value=Decimal("25.00"), seed=3)
    flow, added = _backtested(store, engagement)
    journeys = list(Enrollment.objects.filter(flow=flow))
    held = {j.customer_id for j in journeys if j.holdout}
    assert 10 <= len(held) <= 40  # 40% of 60
    drawn = {
        j.customer_id
        for j in journeys
        if not j.holdout and engagement.buys(customer_id=j.customer_id)
    }
    extra = list(Order.objects.filter(store=store, external_id__startswith="engagement-"))
    assert added == len(extra) == len(drawn) > 0
    assert {o.customer_id for o in extra} == drawn
    assert not held & {o.customer_id for o in extra}
    first_email = dict(
        Message.objects.filter(flow=flow)
        .values("customer_id")
        .annotate(at=Min("send_after"))
        .values_list("customer_id", "at")
    )
    for order in extra:
        assert order.total == Decimal("25.00") and order.currency == store.currency
        assert order.placed_at == first_email[order.customer_id] + ORDER_AFTER_EMAIL


def test_without_engagement_a_backtest_adds_no_order(store: Store) -> None:
    _, added = _backtested(store, None)
    assert added == 0
    assert Order.objects.filter(store=store).count() == 60


def test_the_draws_depend_on_the_seed_and_the_customer_only() -> None:
    one = Engagement(click=0.5, buy=0.5, value=Decimal("10"), seed=1)
    draws = [one.buys(customer_id=c) for c in range(4000)]
    assert draws == [one.buys(customer_id=c) for c in range(4000)]
    assert 0.22 < sum(draws) / 4000 < 0.28  # 0.5 * 0.5
    other = Engagement(click=0.5, buy=0.5, value=Decimal("10"), seed=2)
    assert draws != [other.buys(customer_id=c) for c in range(4000)]
    assert one.expected_value == 2.5


def test_probabilities_outside_0_1_and_negative_values_are_refused() -> None:
    with pytest.raises(ValueError):
        Engagement(click=1.5, buy=0.5, value=Decimal("10"))
    with pytest.raises(ValueError):
        Engagement(click=0.5, buy=0.5, value=Decimal("-1"))
