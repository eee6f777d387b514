import datetime as dt
from decimal import Decimal

from aftersale.customers.records import CustomerRecord
from aftersale.flows.backtest import run_backtest
from aftersale.flows.models import Flow
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.reports.selectors import Headline, flow_headlines, flow_report
from aftersale.tracking.models import Event
from aftersale.tracking.selectors import human_open_filter
from aftersale.tracking.services import (
    record_click,
    record_open,
    record_reply,
    record_reported_open,
    unsubscribe_recipient,
)

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


def _order_in(store, *, order_id: str, customer: str, at: dt.datetime, total: str, currency: str):
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=at,
        currency=currency,
        line_items=(LineItemRecord("milk", 1, Decimal(total), product_name="Milk"),),
    )
    ingest_orders(store=store, records=[record], now=at)


def _three_buyers_a_week_apart(store) -> tuple[Flow, VirtualClock]:
    """ann enters on day 0, bob on day 7, cat on day 14; bob and cat buy again."""
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    place_order(store, order_id="a1", customer="ann", at=T0)
    place_order(store, order_id="b1", customer="bob", at=T0 + 7 * DAY)
    place_order(store, order_id="b2", customer="bob", at=T0 + 9 * DAY, total="50.00")
    place_order(store, order_id="c1", customer="cat", at=T0 + 14 * DAY)
    place_order(store, order_id="c2", customer="cat", at=T0 + 15 * DAY, total="30.00")
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 30 * DAY, clock=clock, deliver=deliver_all)
    return flow, clock


def test_a_date_range_counts_only_the_journeys_that_started_in_it_with_their_messages_and_orders(
    store,
):
    flow, clock = _three_buyers_a_week_apart(store)

    report = flow_report(flow=flow, now=clock.now(), since=T0 + 7 * DAY, until=T0 + 14 * DAY)

    assert (report.started, report.exited, report.purchased, report.orders) == (1, 1, 1, 1)
    assert report.revenue == Decimal("50.00")  # bob's; cat started on the range's end
    assert [s.message.sent for s in report.steps if s.message] == [1, 0, 0]  # bob bought first
    assert [(d.date, d.revenue, d.orders) for d in report.revenue_by_day] == [
        ((T0 + 9 * DAY).date(), Decimal("50.00"), 1)
    ]
    whole = flow_report(flow=flow, now=clock.now())
    assert (whole.started, whole.purchased, whole.revenue) == (3, 2, Decimal("80.00"))
    assert whole.exited_pct == 66.7 and whole.exited == 2


def test_every_rate_of_a_message_is_of_the_messages_sent_and_comes_with_its_count(store):
    flow, clock = _three_buyers_a_week_apart(store)
    Message.objects.filter(step_index=1, customer__external_id="ann").update(
        status=MessageStatus.BOUNCED
    )

    thank_you = flow_report(flow=flow, now=clock.now()).steps[1].message

    assert thank_you is not None
    assert (thank_you.sent, thank_you.delivered, thank_you.bounced) == (3, 2, 1)
    assert (thank_you.delivered_pct, thank_you.bounced_pct) == (66.7, 33.3)


def test_revenue_by_day_is_by_the_days_of_the_stores_time_zone(store):
    store.time_zone = "America/Los_Angeles"
    store.save()
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    place_order(store, order_id="a1", customer="ann", at=T0)
    # 02:00 UTC on the 6th is still the 5th in California.
    place_order(store, order_id="a2", customer="ann", at=dt.datetime(2024, 3, 6, 2, tzinfo=dt.UTC))
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 10 * DAY, clock=clock, deliver=deliver_all)

    report = flow_report(flow=flow, now=clock.now())

    assert [d.date for d in report.revenue_by_day] == [dt.date(2024, 3, 5)]


def test_amounts_in_different_currencies_are_never_added(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    place_order(store, order_id="a1", customer="ann", at=T0)
    place_order(store, order_id="a2", customer="ann", at=T0 + 2 * DAY, total="10.00")
    place_order(store, order_id="b1", customer="bob", at=T0)
    _order_in(store, order_id="b2", customer="bob", at=T0 + 2 * DAY, total="7.00", currency="EUR")
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 10 * DAY, clock=clock, deliver=deliver_all)

    report = flow_report(flow=flow, now=clock.now())

    assert report.currency == "USD" and report.revenue == Decimal("10.00")
    assert report.revenue_by_currency == {"EUR": Decimal("7.00"), "USD": Decimal("10.00")}
    assert [(d.currency, d.revenue) for d in report.revenue_by_day] == [
        ("EUR", Decimal("7.00")),
        ("USD", Decimal("10.00")),
    ]
    assert report.purchased == 2 and report.orders == 2


def test_headlines_of_every_flow_agree_with_their_reports_in_a_few_queries(
    store, django_assert_max_num_queries
):
    flow, clock = _three_buyers_a_week_apart(store)
    other = install_flow(
        store=store, slug="other", definition=upsell_definition(exit_when=()), now=T0
    )

    with django_assert_max_num_queries(4):  # and the store's currency
        headlines = flow_headlines(flows=[flow, other], now=clock.now())

    report = flow_report(flow=flow, now=clock.now())
    assert headlines[flow.pk] == Headline(
        started=report.started,
        in_flow=report.in_flow,
        purchased=report.purchased,
        purchased_pct=report.purchased_pct,
        revenue=report.revenue,
        currency="USD",
        revenue_by_currency=report.revenue_by_currency,
    )
    assert headlines[other.pk].started == 0 and headlines[other.pk].revenue == Decimal("0.00")


def test_reads_are_a_persons_opens_and_each_message_counts_once_per_kind(store):
    flow, clock = _three_buyers_a_week_apart(store)
    ann, bob, cat = (
        Message.objects.get(step_index=1, customer__external_id=name)
        for name in ("ann", "bob", "cat")
    )
    later = clock.now()
    browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
    record_open(message=ann, user_agent=browser, now=later)
    record_open(message=ann, user_agent=browser, now=later + DAY)  # a second look
    record_reported_open(message=bob, machine_reason="privacy proxy", now=later)  # no read
    record_reported_open(message=cat, machine_reason="", now=later)
    record_click(message=ann, index=0, url="https://shop.example.com/a", now=later)
    record_click(message=ann, index=1, url="https://shop.example.com/b", now=later)
    record_click(message=bob, index=0, url="https://shop.example.com/a", now=later)
    record_reply(message=cat, sender="cat@example.com", now=later)
    unsubscribe_recipient(message=cat, now=later)

    thank_you = flow_report(flow=flow, now=later).steps[1].message

    assert thank_you is not None
    reads = Event.objects.filter(human_open_filter(), message__step_index=1)
    assert thank_you.read == reads.values("message_id").distinct().count() == 2  # ann, cat
    assert (thank_you.clicked, thank_you.replied, thank_you.unsubscribed) == (2, 1, 1)
    assert (thank_you.read_pct, thank_you.clicked_pct) == (66.7, 66.7)
