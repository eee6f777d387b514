import datetime as dt
from decimal import Decimal

from aftersale.flows.backtest import run_backtest
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.reports.selectors import flow_report

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def deliver_all(now: dt.datetime) -> int:
    """Stand in for SMTP delivery, which messaging's tests cover against a real server."""
    return Message.objects.filter(status=MessageStatus.QUEUED).update(
        status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
    )


def test_report_numbers_match_a_hand_checked_scenario(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    place_order(store, order_id="a1", customer="ann", at=T0)  # never buys again
    place_order(store, order_id="b1", customer="bob", at=T0)
    place_order(store, order_id="b2", customer="bob", at=T0 + 2 * DAY, total="50.00")
    place_order(store, order_id="c1", customer="cat", at=T0)
    place_order(store, order_id="c2", customer="cat", at=T0 + 5 * DAY, total="30.00")
    place_order(store, order_id="d1", customer="dan", at=T0 + 60 * DAY, total="99.00")

    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 20 * DAY, clock=clock, deliver=deliver_all)
    report = flow_report(flow=flow, now=clock.now()).as_dict()
    steps: list[dict] = report["steps"]  # type: ignore[assignment]

    assert report["started"] == 3
    assert report["exited_pct"] == 66.7  # bob and cat bought again
    assert report["completed_pct"] == 33.3  # ann
    assert report["purchased_pct"] == 66.7
    assert report["revenue"] == 80.0  # b2 + c2; dan's order is outside the flow
    assert report["exit_reasons"] == {"purchased_again": 2}
    assert [s["progressed"] for s in steps] == [3, 3, 3, 2, 2, 1]
    assert [s["waiting"] for s in steps] == [0] * 6
    assert [steps[i]["message"]["sent"] for i in (1, 3, 5)] == [3, 2, 1]
    assert [steps[i]["message"]["delivered"] for i in (1, 3, 5)] == [3, 2, 1]
    assert steps[0]["message"] is None


def test_customers_waiting_for_a_message_are_counted_at_that_message(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    order = place_order(store, order_id="a1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    run_due_enrollments(now=T0 + dt.timedelta(hours=2))

    report = flow_report(flow=flow, now=T0 + dt.timedelta(hours=2))

    assert report.started == 1
    assert [s.waiting for s in report.steps] == [0, 0, 0, 1, 0, 0]  # in the 3-day wait
    assert [s.progressed for s in report.steps] == [1, 1, 1, 0, 0, 0]
    assert report.revenue == Decimal("0.00")
