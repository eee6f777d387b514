"""The win-back and checkout recovery flows of the library: installed in one step with
the library's templates, then run over a few days of virtual time."""

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.customers.records import CustomerRecord
from aftersale.flows.backtest import run_backtest
from aftersale.flows.models import Enrollment, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.flows.tests.helpers import place_order
from aftersale.integrations.services import receive_checkouts
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.render import render_message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.records import CheckoutRecord, LineItemRecord

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Monday
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


@pytest.fixture
def templates(store):
    install_default_templates(store=store, now=T0)


def journeys(flow):
    return {
        e.customer.external_id: (
            e.exit_reason or e.state,
            list(
                Message.objects.filter(enrollment=e)
                .order_by("step_index")
                .values_list("template__slug", "coupon__code")
            ),
        )
        for e in Enrollment.objects.filter(flow=flow)
    }


def backtest(flow, days):
    clock = VirtualClock(T0 - HOUR)
    run_backtest(flow=flow, start=T0 - HOUR, end=T0 + days * DAY, clock=clock)


@pytest.mark.parametrize("slug", ["win-back", "checkout-recovery"])
def test_a_ready_flow_installs_live_in_one_step(store, templates, slug):
    flow = install_library_flow(store=store, slug=slug, now=T0)

    assert flow.status == FlowStatus.LIVE
    assert flow.versions.count() == 1


def test_checkout_recovery_reminds_after_1_and_24_hours_then_offers_a_coupon_at_72(
    store, templates
):
    flow = install_library_flow(store=store, slug="checkout-recovery", now=T0)
    for who in ("ann", "bob", "cat"):
        record = CheckoutRecord(
            external_id=f"k-{who}",
            customer=CustomerRecord(who, f"{who}@example.com", first_name=who.title()),
            started_at=T0,
            line_items=(LineItemRecord("mug", 2, Decimal("9.50"), product_name="Blue mug"),),
            recovery_url=f"https://shop.example.com/cart/{who}",
        )
        receive_checkouts(store=store, records=[record], now=T0)
    place_order(store, order_id="c1", customer="cat", at=T0 + HOUR / 2, product="mug")
    place_order(store, order_id="b1", customer="bob", at=T0 + 30 * HOUR, product="mug")

    backtest(flow, days=4)

    offers = Message.objects.filter(coupon__isnull=False).values_list("coupon__code", flat=True)
    ann_code = offers.get(customer__external_id="ann")
    assert journeys(flow) == {
        "ann": (
            "completed",
            [
                ("checkout-recovery", None),
                ("checkout-recovery", None),
                ("checkout-recovery", ann_code),
            ],
        ),
        "bob": ("purchased_again", [("checkout-recovery", None), ("checkout-recovery", None)]),
    }
    first = Message.objects.filter(customer__external_id="ann").order_by("step_index")[0]
    html = render_message(message=first, now=T0 + HOUR, track=False).html
    assert "Blue mug" in html and "https://shop.example.com/cart/ann" in html


def test_win_back_misses_you_then_offers_a_coupon_then_reminds_and_ends_on_a_purchase(
    store, templates
):
    flow = install_library_flow(store=store, slug="win-back", now=T0)
    for who in ("ann", "bob"):
        place_order(store, order_id=f"{who}1", customer=who, at=T0 - 90 * DAY)
    place_order(store, order_id="dan1", customer="dan", at=T0 - 30 * DAY)  # not dormant yet
    place_order(store, order_id="bob2", customer="bob", at=T0 + 5 * DAY)

    backtest(flow, days=10)

    result = journeys(flow)
    ann_code = result["ann"][1][1][1]
    assert ann_code and result == {
        "ann": (
            "completed",
            [("win-back", None), ("win-back", ann_code), ("offer-reminder", ann_code)],
        ),
        "bob": ("purchased_again", [("win-back", None), ("win-back", result["bob"][1][1][1])]),
    }
