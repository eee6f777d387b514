"""The flow engine's building blocks, each driven through the real scheduler."""

import datetime as dt

import pytest
from django.db.models import Count

from aftersale.catalog.models import Product
from aftersale.flows.definition import FlowDefinition, QuietHours
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.steps import store_guards
from aftersale.flows.tests.helpers import add_templates, place_order
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import Order
from aftersale.stores.services import update_store_settings
from aftersale.tracking.models import Event, EventKind

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Monday
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def flow_of(store, steps, *, trigger=None, guards=None, slug="f"):
    add_templates(
        store,
        T0,
        *{s["template"] for s in steps if s["type"] == "email"}
        - set(store.templates.values_list("slug", flat=True)),
    )
    definition = {"name": slug, "steps": steps, "exit_when": []}
    if trigger:
        definition["trigger"] = trigger
    definition["guards"] = guards or {"smart_sending_hours": 0, "quiet_hours": None}
    return install_flow(store=store, slug=slug, definition=definition, now=T0)


def run_hourly(start, end):
    now = start
    while now <= end:
        run_due_enrollments(now=now)
        now += HOUR


def templates_sent(customer):
    return list(
        Message.objects.filter(customer__external_id=customer, status=MessageStatus.QUEUED)
        .order_by("step_index")
        .values_list("template__slug", flat=True)
    )


def enter(store, order):
    return process_orders(store=store, order_ids=[order.pk], now=max(T0, order.placed_at))


def test_a_split_on_opened_sends_openers_one_email_and_the_rest_another(store):
    flow_of(
        store,
        [
            {"type": "email", "template": "hello", "id": "hello"},
            {"type": "delay", "days": 2},
            {
                "type": "split",
                "condition": {"kind": "opened", "step": "hello"},
                "then": "thanks",
                "else": "nudge",
            },
            {"type": "email", "template": "thanks", "id": "thanks", "next": "end"},
            {"type": "email", "template": "nudge", "id": "nudge"},
            {"type": "exit", "id": "end"},
        ],
    )
    for name in ("ann", "bob"):
        enter(store, place_order(store, order_id=name, customer=name, at=T0))
    run_due_enrollments(now=T0)
    hello = Message.objects.get(customer__external_id="ann")
    Event.objects.create(
        store=store,
        customer=hello.customer,
        message=hello,
        kind=EventKind.OPENED,
        occurred_at=T0 + HOUR,
    )
    run_hourly(T0, T0 + 3 * DAY)
    assert templates_sent("ann") == ["hello", "thanks"]
    assert templates_sent("bob") == ["hello", "nudge"]
    assert set(Enrollment.objects.values_list("state", flat=True)) == {EnrollmentState.COMPLETED}


def test_machine_opens_do_not_count_as_opened(store):
    flow_of(
        store,
        [
            {"type": "email", "template": "hello", "id": "hello"},
            {"type": "delay", "days": 1},
            {"type": "split", "condition": {"kind": "opened"}, "then": "thanks"},
            {"type": "email", "template": "nudge", "next": "end"},
            {"type": "email", "template": "thanks", "id": "thanks"},
            {"type": "exit", "id": "end"},
        ],
    )
    enter(store, place_order(store, order_id="1", customer="ann", at=T0))
    run_due_enrollments(now=T0)
    hello = Message.objects.get()
    Event.objects.create(
        store=store,
        customer=hello.customer,
        message=hello,
        kind=EventKind.OPENED,
        occurred_at=T0,
        data={"machine": True},
    )
    run_hourly(T0, T0 + 2 * DAY)
    assert templates_sent("ann") == ["hello", "nudge"]


def test_ab_split_follows_the_weights_and_never_switches_a_customer(store):
    flow_of(
        store,
        [
            {
                "type": "ab_split",
                "variants": [{"weight": 3, "goto": "a"}, {"weight": 1, "goto": "b"}],
            },
            {"type": "email", "template": "variant-a", "id": "a", "next": "end"},
            {"type": "email", "template": "variant-b", "id": "b"},
            {"type": "exit", "id": "end"},
        ],
    )
    orders = [place_order(store, order_id=str(i), customer=f"c{i}", at=T0) for i in range(400)]
    process_orders(store=store, order_ids=[o.pk for o in orders], now=T0)
    while run_due_enrollments(now=T0).claimed:
        pass
    counts = {
        slug: Message.objects.filter(template__slug=slug).count()
        for slug in ("variant-a", "variant-b")
    }
    # Held-out journeys take a variant too (they follow the flow) but are sent nothing.
    recipients = Enrollment.objects.filter(holdout=False).count()
    assert counts["variant-a"] + counts["variant-b"] == recipients
    assert 0.65 < counts["variant-a"] / recipients < 0.85
    taken = dict(Enrollment.objects.values_list("ab_variants").annotate(n=Count("pk")))
    assert set(taken) == {"0:0;", "0:1;"}
    sent_a = Message.objects.filter(template__slug="variant-a").values("enrollment")
    assert set(Enrollment.objects.filter(pk__in=sent_a).values_list("ab_variants", flat=True)) == {
        "0:0;"
    }


def test_delay_until_a_weekday_and_time_uses_the_customers_time_zone(store):
    flow_of(
        store,
        [
            {"type": "delay", "weekdays": ["sat"], "at": "10:00"},
            {"type": "email", "template": "weekend"},
        ],
    )
    order = place_order(store, order_id="1", customer="ann", at=T0)
    order.customer.time_zone = "America/New_York"
    order.customer.save()
    enter(store, order)
    run_due_enrollments(now=T0)
    saturday_10_new_york = dt.datetime(2024, 3, 9, 15, 0, tzinfo=dt.UTC)
    assert Enrollment.objects.get().due_at == saturday_10_new_york
    run_due_enrollments(now=saturday_10_new_york)
    assert templates_sent("ann") == ["weekend"]


def test_delay_relative_to_delivery_waits_for_the_delivery(store):
    flow_of(
        store,
        [
            {"type": "delay", "days": 2, "relative_to": "delivery"},
            {"type": "email", "template": "how-is-it"},
        ],
    )
    order = place_order(store, order_id="1", customer="ann", at=T0)
    enter(store, order)
    run_hourly(T0, T0 + 3 * DAY)
    assert templates_sent("ann") == []  # not delivered yet: nothing to count from
    Order.objects.filter(pk=order.pk).update(delivered_at=T0 + 4 * DAY)
    run_hourly(T0 + 3 * DAY, T0 + 6 * DAY + 7 * HOUR)
    message = Message.objects.get()
    assert message.queued_at >= T0 + 6 * DAY


def test_delay_relative_to_delivery_falls_back_to_days_after_fulfilment(store):
    flow_of(
        store,
        [
            {
                "type": "delay",
                "days": 1,
                "relative_to": "delivery",
                "fallback_days_after_fulfilled": 3,
            },
            {"type": "email", "template": "how-is-it"},
        ],
    )
    order = place_order(store, order_id="1", customer="ann", at=T0)
    Order.objects.filter(pk=order.pk).update(fulfilled_at=T0 + DAY)
    enter(store, order)
    run_hourly(T0, T0 + 5 * DAY + 2 * HOUR)
    assert Message.objects.get().queued_at == T0 + 5 * DAY


def test_quiet_hours_move_the_send_to_the_next_morning_in_the_recipients_zone(store):
    flow_of(
        store,
        [{"type": "email", "template": "hello"}],
        guards={"smart_sending_hours": 0, "quiet_hours": {"start": "21:00", "end": "08:00"}},
    )
    late = dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC)
    enter(store, place_order(store, order_id="1", customer="ann", at=late))
    run_due_enrollments(now=late)
    assert Message.objects.get().send_after == dt.datetime(2024, 3, 5, 8, 0, tzinfo=dt.UTC)


def two_flows_on_any_purchase(store, *, second_flow_waits: bool) -> None:
    """Flows "one" and "two" that both email on any purchase, with a 16-hour smart
    sending window; "two" skips a clashing email or, if `second_flow_waits`, delays it."""
    for slug, waits in (("one", False), ("two", second_flow_waits)):
        guards: dict[str, object] = {"smart_sending_hours": 16, "quiet_hours": None}
        if waits:
            guards["smart_sending"] = "delay"
        flow_of(
            store,
            [{"type": "email", "template": slug}],
            slug=slug,
            trigger={"event": "any_purchase"},
            guards=guards,
        )


def test_smart_sending_skips_a_second_marketing_email_within_the_window(store):
    two_flows_on_any_purchase(store, second_flow_waits=False)
    enter(store, place_order(store, order_id="1", customer="ann", at=T0))
    run_due_enrollments(now=T0)
    statuses = dict(Message.objects.values_list("template__slug", "status"))
    assert sorted(statuses.values()) == [MessageStatus.QUEUED, MessageStatus.SKIPPED]


def test_smart_sending_set_to_delay_waits_out_the_window(store):
    two_flows_on_any_purchase(store, second_flow_waits=True)
    enter(store, place_order(store, order_id="1", customer="ann", at=T0))
    run_due_enrollments(now=T0)
    run_hourly(T0, T0 + DAY)
    assert Message.objects.filter(status=MessageStatus.QUEUED).count() == 2
    two = Message.objects.get(template__slug="two")
    assert two.queued_at >= T0 + 16 * HOUR


def test_transactional_email_ignores_smart_sending_and_quiet_hours(store):
    flow_of(
        store, [{"type": "email", "template": "one"}], slug="one", trigger={"event": "any_purchase"}
    )
    flow_of(
        store,
        [{"type": "email", "template": "receipt", "transactional": True}],
        slug="receipt",
        trigger={"event": "any_purchase"},
        guards={"smart_sending_hours": 16, "quiet_hours": {"start": "00:00", "end": "23:59"}},
    )
    enter(store, place_order(store, order_id="1", customer="ann", at=T0))
    run_due_enrollments(now=T0)
    receipt = Message.objects.get(template__slug="receipt")
    assert (receipt.status, receipt.send_after) == (MessageStatus.QUEUED, T0)


@pytest.mark.parametrize(
    ("event", "field"), [("order_fulfilled", "fulfilled_at"), ("order_delivered", "delivered_at")]
)
def test_fulfilment_and_delivery_triggers_start_when_the_order_gets_there(store, event, field):
    flow_of(store, [{"type": "email", "template": "hello"}], trigger={"event": event})
    order = place_order(store, order_id="1", customer="ann", at=T0)
    assert enter(store, order) == []
    Order.objects.filter(pk=order.pk).update(**{field: T0 + 2 * DAY})
    started = process_orders(store=store, order_ids=[order.pk], now=T0 + 2 * DAY)
    assert [e.entered_at for e in started] == [T0 + 2 * DAY]
    assert process_orders(store=store, order_ids=[order.pk], now=T0 + 3 * DAY) == []


def test_category_trigger_only_starts_for_orders_with_that_category(store):
    flow_of(
        store,
        [{"type": "email", "template": "hello"}],
        trigger={"event": "category_purchased", "categories": ["Coffee"]},
    )
    milk = place_order(store, order_id="1", customer="ann", at=T0, product="milk")
    beans = place_order(store, order_id="2", customer="bob", at=T0, product="beans")
    Product.objects.filter(external_id="beans").update(category="Coffee")
    started = process_orders(store=store, order_ids=[milk.pk, beans.pk], now=T0)
    assert [e.customer.external_id for e in started] == ["bob"]


def test_reentry_every_n_days_lets_a_customer_back_only_after_the_gap(store):
    flow_of(
        store,
        [{"type": "email", "template": "hello"}],
        trigger={"event": "any_purchase", "reentry": {"mode": "every", "days": 30}},
    )
    for number, day in enumerate((0, 10, 45)):
        order = place_order(store, order_id=str(number), customer="ann", at=T0 + day * DAY)
        process_orders(store=store, order_ids=[order.pk], now=T0 + day * DAY)
        run_due_enrollments(now=T0 + day * DAY)
    assert list(Enrollment.objects.order_by("entered_at").values_list("entered_at", flat=True)) == [
        T0,
        T0 + 45 * DAY,
    ]


def test_editing_a_live_flow_leaves_journeys_in_flight_on_their_version(store):
    flow = flow_of(store, [{"type": "delay", "days": 1}, {"type": "email", "template": "old"}])
    enter(store, place_order(store, order_id="1", customer="ann", at=T0))
    run_due_enrollments(now=T0)
    add_templates(store, T0, "new")
    install_flow(
        store=store,
        slug=flow.slug,
        now=T0 + HOUR,
        definition={
            "name": "f",
            "exit_when": [],
            "guards": {"smart_sending_hours": 0, "quiet_hours": None},
            "steps": [{"type": "email", "template": "new"}],
        },
    )
    enter(store, place_order(store, order_id="2", customer="bob", at=T0 + 2 * HOUR))
    run_hourly(T0 + 2 * HOUR, T0 + 2 * DAY)
    assert templates_sent("ann") == ["old"]
    assert templates_sent("bob") == ["new"]


def test_a_segment_filter_on_the_trigger_lets_only_members_in(store):
    flow_of(
        store,
        [{"type": "email", "template": "hello"}],
        trigger={"event": "any_purchase", "segment": {"type": "repeat"}},
    )
    place_order(store, order_id="1", customer="ann", at=T0 - 10 * DAY)
    second = place_order(store, order_id="2", customer="ann", at=T0)
    first = place_order(store, order_id="3", customer="bob", at=T0)
    started = process_orders(store=store, order_ids=[second.pk, first.pk], now=T0)
    assert [e.customer.external_id for e in started] == ["ann"]


def test_a_split_on_a_segment_routes_by_membership(store):
    flow_of(
        store,
        [
            {
                "type": "split",
                "condition": {"kind": "in_segment", "segment": {"type": "repeat"}},
                "else": "welcome",
            },
            {"type": "email", "template": "welcome-back", "next": "end"},
            {"type": "email", "template": "welcome", "id": "welcome"},
            {"type": "exit", "id": "end"},
        ],
        trigger={"event": "any_purchase"},
    )
    place_order(store, order_id="1", customer="ann", at=T0 - 10 * DAY)
    orders = [
        place_order(store, order_id="2", customer="ann", at=T0),
        place_order(store, order_id="3", customer="bob", at=T0),
    ]
    process_orders(store=store, order_ids=[o.pk for o in orders], now=T0)
    run_due_enrollments(now=T0)
    assert templates_sent("ann") == ["welcome-back"]
    assert templates_sent("bob") == ["welcome"]


def _flow_without_guards(store, guards=None):
    add_templates(store, T0, "hello")
    definition = {"name": "f", "steps": [{"type": "email", "template": "hello"}], "exit_when": []}
    if guards is not None:
        definition["guards"] = guards
    return install_flow(store=store, slug="f", definition=definition, now=T0)


def test_a_flow_without_quiet_hours_of_its_own_keeps_the_stores(store):
    update_store_settings(
        store=store, quiet_hours_start=dt.time(22, 0), quiet_hours_end=dt.time(7, 30)
    )
    _flow_without_guards(store, guards={"smart_sending_hours": 0})
    late = dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC)
    enter(store, place_order(store, order_id="1", customer="ann", at=late))
    run_due_enrollments(now=late)
    assert Message.objects.get().send_after == dt.datetime(2024, 3, 5, 7, 30, tzinfo=dt.UTC)


def test_a_store_without_quiet_hours_sends_at_night_unless_the_flow_sets_some(store):
    update_store_settings(store=store, quiet_hours_start=None, quiet_hours_end=None)
    _flow_without_guards(store)
    late = dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC)
    enter(store, place_order(store, order_id="1", customer="ann", at=late))
    run_due_enrollments(now=late)
    assert Message.objects.get().send_after == late


def test_the_stores_smart_sending_window_applies_unless_the_flow_sets_its_own(store):
    update_store_settings(store=store, smart_sending_hours=0)
    definition = FlowDefinition.model_validate(
        {"name": "f", "steps": [{"type": "email", "template": "hello"}]}
    )
    assert store_guards(definition, store).smart_sending_hours == 0
    assert store_guards(definition, store).quiet_hours == QuietHours()  # the store's default
    own = FlowDefinition.model_validate(
        {
            "name": "f",
            "steps": [{"type": "email", "template": "hello"}],
            "guards": {"smart_sending_hours": 16, "quiet_hours": None},
        }
    )
    assert (store_guards(own, store).smart_sending_hours, store_guards(own, store).quiet_hours) == (
        16,
        None,
    )
