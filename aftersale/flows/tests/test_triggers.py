"""Triggers beyond orders: posted events, abandoned checkouts, dates, dormancy; and the
flow's filters re-checked before every email."""

import datetime as dt
from decimal import Decimal

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import upsert_customers
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import enroll_timed_occasions, install_flow
from aftersale.flows.tests.helpers import add_templates, place_order
from aftersale.integrations.services import receive_checkouts, receive_event, receive_orders
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.context import build_context
from aftersale.orders.models import Checkout
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord
from aftersale.tracking.models import Event, EventKind
from aftersale.worker.loop import WorkerSettings, WorkerTotals, run_pass

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Monday
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
ONE_EMAIL = [{"type": "email", "template": "hello"}]


def install(store, trigger, *, steps=ONE_EMAIL, exit_when=("purchased_again",)):
    add_templates(store, T0, *{s["template"] for s in steps if s["type"] == "email"})
    definition = {
        "name": "f",
        "trigger": trigger,
        "steps": steps,
        "exit_when": list(exit_when),
        "guards": {"smart_sending_hours": 0, "quiet_hours": None},
    }
    return install_flow(store=store, slug="f", definition=definition, now=T0)


def customer(name, **fields):
    return CustomerRecord(name, f"{name}@example.com", first_name=name.title(), **fields)


def entered(flow):
    return sorted(
        (e.customer.external_id, e.entered_at) for e in Enrollment.objects.filter(flow=flow)
    )


def post_event(store, who, name, at, **properties):
    return receive_event(
        store=store,
        customer=customer(who),
        name=name,
        occurred_at=at,
        properties=properties,
        now=at,
    )


def start_checkout(store, checkout_id, who, at, *, total="30.00", received=None, **fields):
    record = CheckoutRecord(
        external_id=checkout_id,
        customer=customer(who),
        started_at=at,
        line_items=(LineItemRecord("mug", 2, Decimal(total) / 2, product_name="Mug"),),
        recovery_url=f"https://shop.example.com/checkouts/{checkout_id}",
        **fields,
    )
    receive_checkouts(store=store, records=[record], now=received or at)


def order(store, order_id, who, at):
    record = OrderRecord(
        external_id=order_id,
        customer=customer(who),
        placed_at=at,
        line_items=(LineItemRecord("mug", 1, Decimal("15.00")),),
    )
    receive_orders(store=store, records=[record], now=at)


def test_a_viewed_product_starts_the_flow_only_for_the_products_it_names(store):
    upsert_products(
        store=store,
        records=[ProductRecord("p1", "Mug", category="Kitchen"), ProductRecord("p2", "Tea")],
    )
    flow = install(store, {"event": "product_viewed", "categories": ["Kitchen"]})

    post_event(store, "ann", "product_viewed", T0, product_id="p1")
    post_event(store, "bob", "product_viewed", T0, product_id="p2")
    run_due_enrollments(now=T0)

    assert entered(flow) == [("ann", T0)]
    assert Message.objects.get().customer.external_id == "ann"


def test_a_custom_event_starts_the_flows_listening_for_its_name_once(store):
    flow = install(store, {"event": "custom", "name": "quiz_completed"})

    post_event(store, "ann", "quiz_completed", T0, score=7)
    post_event(store, "bob", "newsletter_opened", T0)
    post_event(store, "ann", "quiz_completed", T0 + DAY)  # re-entry `once`

    assert entered(flow) == [("ann", T0)]
    first = Event.objects.filter(kind=EventKind.CUSTOM).order_by("pk")[0]
    assert first.data == {"name": "quiz_completed", "properties": {"score": 7}}


def test_a_checkout_left_without_an_order_for_n_hours_starts_the_flow_once(store):
    flow = install(store, {"event": "checkout_abandoned", "abandoned_hours": 4})
    start_checkout(store, "k1", "ann", T0)
    start_checkout(store, "k2", "bob", T0)
    order(store, "o1", "bob", T0 + 2 * HOUR)

    assert enroll_timed_occasions(now=T0 + 3 * HOUR) == 0
    assert enroll_timed_occasions(now=T0 + 4 * HOUR) == 1
    assert enroll_timed_occasions(now=T0 + 5 * HOUR) == 0  # a pass run again enrolls nobody

    assert entered(flow) == [("ann", T0 + 4 * HOUR)]
    assert Enrollment.objects.values_list("trigger_checkout__external_id", flat=True).get() == "k1"
    completed_by = Checkout.objects.values_list("order__external_id", flat=True)
    assert completed_by.get(external_id="k2") == "o1"


def test_the_checkout_recovery_email_shows_the_checkouts_items_and_link(store):
    install(store, {"event": "checkout_abandoned", "abandoned_hours": 1})
    start_checkout(store, "k1", "ann", T0, total="30.00")
    enroll_timed_occasions(now=T0 + HOUR)
    run_due_enrollments(now=T0 + HOUR)

    checkout = build_context(message=Message.objects.get(), now=T0 + HOUR)["checkout"]

    assert checkout["recovery_url"] == "https://shop.example.com/checkouts/k1"
    assert [(i["name"], i["quantity"]) for i in checkout["items"]] == [("Mug", 2)]
    assert "15.00" in checkout["items"][0]["price"]
    assert "30.00" in checkout["total"]


def test_an_order_after_the_checkout_completes_it_and_exits_checkout_recovery(store):
    flow = install(
        store,
        {"event": "checkout_abandoned", "abandoned_hours": 1},
        steps=[{"type": "delay", "days": 1}, *ONE_EMAIL],
        exit_when=("purchased_again", "checkout_completed"),
    )
    start_checkout(store, "k1", "ann", T0)
    enroll_timed_occasions(now=T0 + HOUR)

    order(store, "o1", "ann", T0 + 3 * HOUR)
    run_due_enrollments(now=T0 + 2 * DAY)

    journey = Enrollment.objects.get(flow=flow)
    assert (journey.state, journey.exit_reason) == (EnrollmentState.EXITED, "purchased_again")
    assert Checkout.objects.get().completed_at == T0 + 3 * HOUR
    assert not Message.objects.exists()


def test_a_checkout_the_store_reports_completed_exits_with_checkout_completed(store):
    install(
        store,
        {"event": "checkout_abandoned", "abandoned_hours": 1},
        steps=[{"type": "delay", "days": 1}, *ONE_EMAIL],
        exit_when=("checkout_completed",),
    )
    start_checkout(store, "k1", "ann", T0)
    enroll_timed_occasions(now=T0 + HOUR)

    start_checkout(store, "k1", "ann", T0, completed_at=T0 + 2 * HOUR, received=T0 + 2 * HOUR)

    journey = Enrollment.objects.get()
    assert (journey.state, journey.exit_reason) == (EnrollmentState.EXITED, "checkout_completed")


def test_the_scheduler_exits_a_journey_whose_checkout_was_completed_meanwhile(store):
    install(
        store,
        {"event": "checkout_abandoned", "abandoned_hours": 1},
        steps=[{"type": "delay", "hours": 2}, *ONE_EMAIL],
        exit_when=("checkout_completed",),
    )
    start_checkout(store, "k1", "ann", T0)
    enroll_timed_occasions(now=T0 + HOUR)
    Checkout.objects.update(completed_at=T0 + HOUR)  # e.g. an import that skips services

    # The bulk path must leave the journey to the exit rules, not move it past the delay.
    run_due_enrollments(now=T0 + HOUR)

    assert Enrollment.objects.get().exit_reason == "checkout_completed"
    assert not Message.objects.exists()


def test_a_birthday_starts_the_flow_at_the_local_hour_once_a_year(store):
    flow = install(store, {"event": "birthday", "local_hour": 9})
    upsert_customers(
        store=store,
        records=[
            customer("ann", birthday=dt.date(1990, 3, 5), time_zone="America/New_York"),
            customer("bob", birthday=dt.date(1990, 3, 6), time_zone="America/New_York"),
        ],
        now=T0,
    )
    nine_in_new_york = dt.datetime(2024, 3, 5, 14, 0, tzinfo=dt.UTC)

    assert enroll_timed_occasions(now=nine_in_new_york - dt.timedelta(minutes=1)) == 0
    assert enroll_timed_occasions(now=nine_in_new_york) == 1
    assert enroll_timed_occasions(now=nine_in_new_york + HOUR) == 0
    run_due_enrollments(now=nine_in_new_york + HOUR)
    next_year = dt.datetime(2025, 3, 5, 14, 30, tzinfo=dt.UTC)
    assert enroll_timed_occasions(now=next_year) == 1

    assert entered(flow) == [
        ("ann", nine_in_new_york),
        ("ann", next_year.replace(minute=0)),
    ]


def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years(store):
    flow = install(store, {"event": "birthday", "local_hour": 9})
    upsert_customers(store=store, records=[customer("ann", birthday=dt.date(1992, 2, 29))], now=T0)
    feb_28 = dt.datetime(2025, 2, 28, 9, 0, tzinfo=dt.UTC)  # the store's zone is UTC

    enroll_timed_occasions(now=feb_28)

    assert entered(flow) == [("ann", feb_28)]


def test_the_first_order_anniversary_starts_the_flow_for_first_orders_only(store):
    flow = install(store, {"event": "first_order_anniversary", "local_hour": 9})
    year_ago = dt.datetime(2023, 3, 4, 15, 0, tzinfo=dt.UTC)
    place_order(store, order_id="a1", customer="ann", at=year_ago)
    place_order(store, order_id="a2", customer="ann", at=year_ago + 30 * DAY)
    place_order(store, order_id="b1", customer="bob", at=year_ago - 100 * DAY)
    place_order(store, order_id="b2", customer="bob", at=year_ago)
    place_order(store, order_id="c1", customer="cat", at=T0 - HOUR)  # today: no year yet

    enroll_timed_occasions(now=T0)

    assert entered(flow) == [("ann", T0)]


def test_a_customer_without_an_order_for_n_days_enters_once_per_dormant_spell(store):
    flow = install(store, {"event": "customer_dormant", "dormant_days": 30})
    place_order(store, order_id="a1", customer="ann", at=T0)
    place_order(store, order_id="b1", customer="bob", at=T0)
    place_order(store, order_id="b2", customer="bob", at=T0 + 20 * DAY)

    for day in (29, 30, 31):
        enroll_timed_occasions(now=T0 + day * DAY)
        run_due_enrollments(now=T0 + day * DAY)
    place_order(store, order_id="a2", customer="ann", at=T0 + 40 * DAY)
    for day in (50, 70):
        enroll_timed_occasions(now=T0 + day * DAY)
        run_due_enrollments(now=T0 + day * DAY)

    assert entered(flow) == [("ann", T0 + 30 * DAY), ("ann", T0 + 70 * DAY), ("bob", T0 + 50 * DAY)]
    spells = Enrollment.objects.filter(customer__external_id="ann").order_by("entered_at")
    # The last order before the spell: the basket personal picks start from.
    assert spells.values_list("trigger_order__external_id", flat=True)[0] == "a1"


def test_a_worker_pass_runs_the_timed_triggers(store):
    flow = install(store, {"event": "checkout_abandoned", "abandoned_hours": 4})
    start_checkout(store, "k1", "ann", T0)
    totals = WorkerTotals()

    with use_clock(VirtualClock(T0 + 4 * HOUR)):
        run_pass(config=WorkerSettings(worker_id="w", batch_size=10), totals=totals)

    assert (totals.enrolled, totals.queued) == (1, 1)
    assert entered(flow) == [("ann", T0 + 4 * HOUR)]


def test_a_worker_runs_the_timed_triggers_at_most_once_a_minute(store):
    flow = install(store, {"event": "checkout_abandoned", "abandoned_hours": 4})
    config, totals = WorkerSettings(worker_id="w", batch_size=10), WorkerTotals()
    start_checkout(store, "k1", "ann", T0)
    clock = VirtualClock(T0 + 4 * HOUR)
    with use_clock(clock):
        run_pass(config=config, totals=totals)
        start_checkout(store, "k2", "bob", T0)
        clock.advance(dt.timedelta(seconds=30))
        run_pass(config=config, totals=totals)
        assert [who for who, _ in entered(flow)] == ["ann"]  # bob waits for the next minute
        clock.advance(dt.timedelta(seconds=30))
        run_pass(config=config, totals=totals)

    assert [who for who, _ in entered(flow)] == ["ann", "bob"]


def test_a_customer_who_left_the_trigger_segment_exits_before_the_next_email(store):
    flow = install(
        store,
        {"event": "any_purchase", "segment": {"type": "first_time"}},
        steps=[
            {"type": "email", "template": "hello"},
            {"type": "delay", "days": 2},
            {"type": "email", "template": "again"},
        ],
        exit_when=(),
    )
    order(store, "o1", "ann", T0)
    run_due_enrollments(now=T0)
    order(store, "o2", "ann", T0 + DAY)  # now a repeat buyer

    run_due_enrollments(now=T0 + 2 * DAY)

    journey = Enrollment.objects.get(flow=flow)
    assert (journey.state, journey.exit_reason) == (EnrollmentState.EXITED, "left_segment")
    assert list(Message.objects.values_list("template__slug", flat=True)) == ["hello"]


def test_a_checkout_that_fell_below_the_minimum_total_exits_before_the_email(store):
    install(
        store,
        {"event": "checkout_abandoned", "abandoned_hours": 1, "min_order_total": "25"},
        steps=[{"type": "delay", "hours": 1}, *ONE_EMAIL],
    )
    start_checkout(store, "k1", "ann", T0, total="30.00")
    enroll_timed_occasions(now=T0 + HOUR)

    start_checkout(store, "k1", "ann", T0, total="10.00")  # the cart changed
    run_due_enrollments(now=T0 + 2 * HOUR)

    assert Enrollment.objects.get().exit_reason == "checkout_below_min_total"
    assert not Message.objects.exists()
