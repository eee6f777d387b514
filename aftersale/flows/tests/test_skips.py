"""Skips are results too: every email a flow decides not to send leaves a skipped row
with its reason, an email with a coupon waits out smart sending instead of being lost,
and a journey whose every email was due when it started (a late or back-dated order)
says so in the report."""

import datetime as dt

import pytest
from django.core.mail import get_connection

from aftersale.customers.models import Customer
from aftersale.flows.definition import parse_definition
from aftersale.flows.models import Enrollment
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.flows.timing import every_email_overdue, zone_named
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.models import Message, MessageStatus, SkipReason
from aftersale.reports.selectors import flow_report

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Monday; the store's zone is UTC
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
UTC = zone_named("UTC")


def run_worker(start: dt.datetime, end: dt.datetime) -> None:
    """What a worker polling every hour does from `start` to `end`: due journeys, then
    due emails (to an in-memory mailbox)."""
    mailbox = get_connection("django.core.mail.backends.locmem.EmailBackend")
    now = start
    while now <= end:
        run_due_enrollments(now=now)
        send_queued_messages(now=now, connection=mailbox)
        now += HOUR


def rows(customer: str) -> list[tuple[str, str, str]]:
    """(template, status, skip reason) of the customer's emails, in step order."""
    return list(
        Message.objects.filter(customer__external_id=customer)
        .order_by("step_index")
        .values_list("template__slug", "status", "skip_reason")
    )


def flow_with(store, steps, *, guards=None, slug="f", exit_when=()):
    templates = {s["template"] for s in steps if s["type"] == "email"}
    add_templates(store, T0, *templates - set(store.templates.values_list("slug", flat=True)))
    definition = {
        "name": slug,
        "steps": steps,
        "exit_when": list(exit_when),
        "guards": guards or {"smart_sending_hours": 16, "quiet_hours": None},
        "coupon": {"kind": "percent", "amount": "10"},
    }
    return install_flow(store=store, slug=slug, definition=definition, now=T0)


def test_an_order_posted_8_days_late_gets_its_coupon_later_not_skipped_and_the_report_says_so(
    store,
):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(
        store=store, slug="upsell", definition=upsell_definition(exit_when=()), now=T0
    )
    # Bob's order arrives on time; he uses his coupon, so his reminder is skipped.
    on_time = place_order(store, order_id="b1", customer="bob", at=T0)
    process_orders(store=store, order_ids=[on_time.pk], now=T0)
    # Ann's order is posted 8 days after it was placed: all three emails are due at once.
    late = T0 + 8 * DAY
    ann_order = place_order(store, order_id="a1", customer="ann", at=T0)
    run_worker(T0, T0 + 5 * DAY - HOUR)
    bobs_offer = Message.objects.get(customer__external_id="bob", template__slug="offer")
    assert bobs_offer.coupon is not None
    code = bobs_offer.coupon.code
    used = place_order(store, order_id="b2", customer="bob", at=T0 + 5 * DAY, codes=(code,))
    process_orders(store=store, order_ids=[used.pk], now=T0 + 5 * DAY)
    run_worker(T0 + 5 * DAY, late - HOUR)
    process_orders(store=store, order_ids=[ann_order.pk], now=late)

    run_worker(late, late + HOUR)
    # The thank-you goes out at once; the offer waits out the 16 hours of smart sending.
    assert rows("ann") == [("thank-you", MessageStatus.DELIVERED, "")]
    run_worker(late + 2 * HOUR, late + 10 * DAY)

    # Sent at 01:00 when the window ended, moved to the end of the quiet hours (08:00).
    offer = Message.objects.get(customer__external_id="ann", template__slug="offer")
    assert offer.status == MessageStatus.DELIVERED and offer.coupon is not None
    assert offer.queued_at == late + 16 * HOUR
    assert offer.sent_at == late + 23 * HOUR
    assert rows("ann") == [
        ("thank-you", MessageStatus.DELIVERED, ""),
        ("offer", MessageStatus.DELIVERED, SkipReason.QUIET_HOURS_MOVED),
        ("reminder", MessageStatus.DELIVERED, SkipReason.QUIET_HOURS_MOVED),
    ]
    assert rows("bob")[-1] == (
        "reminder",
        MessageStatus.SKIPPED,
        SkipReason.FILTER_NO_LONGER_MET,
    )
    journeys = {e.customer.external_id: e.overdue_at_entry for e in Enrollment.objects.all()}
    assert journeys == {"ann": True, "bob": False}

    report = flow_report(flow=flow, now=late + 10 * DAY)
    assert report.overdue_at_entry == 1
    thank_you, offer_stats, reminder = (s.message for s in report.steps if s.message)
    assert (offer_stats.sent, offer_stats.skipped, offer_stats.moved_by_quiet_hours) == (2, 0, 1)
    assert (reminder.sent, reminder.skipped) == (1, 1)
    assert reminder.skipped_by_reason == {"filter_no_longer_met": 1}
    assert thank_you.skipped_by_reason == {}


def test_smart_sending_skips_an_email_without_a_coupon_and_records_why(store):
    flow_with(store, [{"type": "email", "template": "one"}, {"type": "email", "template": "two"}])
    process_orders(
        store=store, order_ids=[place_order(store, order_id="1", customer="ann", at=T0).pk], now=T0
    )
    run_due_enrollments(now=T0)
    ((_, _, none), (_, status, reason)) = rows("ann")
    assert (none, status, reason) == ("", MessageStatus.SKIPPED, SkipReason.SMART_SENDING)
    assert Message.objects.get(template__slug="two").error.startswith("smart sending: got")


@pytest.mark.parametrize(
    ("guards", "step"),
    [
        ({"smart_sending_coupons": "skip"}, {}),
        ({}, {"smart_sending": "skip"}),
    ],
    ids=["the flow says skip", "the step says skip"],
)
def test_a_coupon_email_is_skipped_by_smart_sending_when_the_merchant_says_so(store, guards, step):
    flow_with(
        store,
        [
            {"type": "email", "template": "one"},
            {"type": "email", "template": "offer", "coupon": "issue", **step},
        ],
        guards={"smart_sending_hours": 16, "quiet_hours": None, **guards},
    )
    process_orders(
        store=store, order_ids=[place_order(store, order_id="1", customer="ann", at=T0).pk], now=T0
    )
    run_due_enrollments(now=T0)
    assert rows("ann")[1] == ("offer", MessageStatus.SKIPPED, SkipReason.SMART_SENDING)


def test_a_coupon_email_waits_out_smart_sending_by_default(store):
    flow_with(
        store,
        [
            {"type": "email", "template": "one"},
            {"type": "email", "template": "offer", "coupon": "issue"},
        ],
    )
    process_orders(
        store=store, order_ids=[place_order(store, order_id="1", customer="ann", at=T0).pk], now=T0
    )
    run_due_enrollments(now=T0)
    assert [template for template, _, _ in rows("ann")] == ["one"]
    assert Enrollment.objects.get().due_at == T0 + 16 * HOUR
    run_due_enrollments(now=T0 + 16 * HOUR)
    assert rows("ann")[1] == ("offer", MessageStatus.QUEUED, "")


@pytest.mark.parametrize(
    ("rule", "scene"),
    [
        ("purchased_since_entry", "bought again"),
        ("no_recommendations", "nothing to recommend"),
    ],
)
def test_a_skip_rule_that_holds_leaves_a_skipped_email_with_the_reason(store, rule, scene):
    flow_with(
        store,
        [
            {"type": "delay", "days": 1},
            {
                "type": "email",
                "template": "nudge",
                "recommendations": "cross_sell",
                "skip_if": [rule],
            },
        ],
    )
    first = place_order(store, order_id="1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[first.pk], now=T0)
    if scene == "bought again":
        place_order(store, order_id="2", customer="ann", at=T0 + HOUR)
    run_due_enrollments(now=T0 + DAY)
    message = Message.objects.get()
    assert (message.status, message.skip_reason) == (
        MessageStatus.SKIPPED,
        SkipReason.FILTER_NO_LONGER_MET,
    )
    assert message.error == f"skip_if {rule}"


def test_a_customer_without_an_address_is_skipped_as_missing_address(store):
    flow_with(store, [{"type": "delay", "days": 1}, {"type": "email", "template": "one"}])
    process_orders(
        store=store, order_ids=[place_order(store, order_id="1", customer="ann", at=T0).pk], now=T0
    )
    Customer.objects.filter(external_id="ann").update(email="")  # as erasure leaves it
    run_due_enrollments(now=T0 + DAY)
    assert rows("ann") == [("one", MessageStatus.SKIPPED, SkipReason.MISSING_ADDRESS)]


def test_an_email_in_the_quiet_hours_is_queued_for_their_end_and_recorded_as_moved(store):
    flow_with(
        store,
        [{"type": "email", "template": "one"}],
        guards={"smart_sending_hours": 0, "quiet_hours": {"start": "21:00", "end": "08:00"}},
    )
    night = T0 + 14 * HOUR  # 23:00 UTC
    order = place_order(store, order_id="1", customer="ann", at=night)
    process_orders(store=store, order_ids=[order.pk], now=night)
    run_due_enrollments(now=night)
    message = Message.objects.get()
    assert (message.status, message.skip_reason) == (
        MessageStatus.QUEUED,
        SkipReason.QUIET_HOURS_MOVED,
    )
    assert message.send_after == T0 + DAY - HOUR  # 08:00 the next day


UPSELL = parse_definition(upsell_definition())  # 1 h, email, 3 d, email, 4 d, email


@pytest.mark.parametrize(
    ("late_by", "overdue"),
    [
        (dt.timedelta(minutes=5), False),  # reported a few minutes late: on time
        (3 * HOUR, False),  # only the thank-you is overdue
        (7 * DAY, False),  # the reminder (7 days 1 hour in) is not due yet
        (8 * DAY, True),  # every email is overdue
    ],
)
def test_a_journey_is_overdue_at_entry_only_when_every_email_was_already_due(late_by, overdue):
    assert (
        every_email_overdue(definition=UPSELL, entered_at=T0, now=T0 + late_by, zone=UTC) is overdue
    )


def test_a_branch_not_yet_due_or_a_delay_after_delivery_keeps_a_journey_on_time():
    branches = parse_definition(
        {
            "name": "b",
            "steps": [
                {"type": "split", "condition": {"kind": "opened"}, "then": "later"},
                {"type": "email", "template": "now", "next": "end"},
                {"type": "delay", "days": 30, "id": "later"},
                {"type": "email", "template": "later"},
                {"type": "exit", "id": "end"},
            ],
        }
    )
    after_delivery = parse_definition(
        {
            "name": "d",
            "steps": [
                {"type": "delay", "days": 1, "relative_to": "delivery"},
                {"type": "email", "template": "review"},
            ],
        }
    )
    for definition in (branches, after_delivery):
        assert not every_email_overdue(
            definition=definition, entered_at=T0, now=T0 + 8 * DAY, zone=UTC
        )
    assert every_email_overdue(definition=branches, entered_at=T0, now=T0 + 31 * DAY, zone=UTC)
