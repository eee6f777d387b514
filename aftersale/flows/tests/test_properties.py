"""Property tests: whatever the flow (started by orders, abandoned checkouts or dormancy)
and whatever order events arrive in, every journey ends, and the report's counts add up."""

import datetime as dt

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersale.flows.backtest import run_backtest
from aftersale.flows.definition import TIMED_EVENTS
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.selectors import definition_of
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, place_order, start_checkout
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.reports.selectors import flow_report
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)

delays = st.builds(
    lambda days, hours: {"type": "delay", "days": days, "hours": hours},
    st.integers(0, 5),
    st.integers(0, 23),
)
emails = st.sampled_from(["a", "b", "c"]).map(lambda t: {"type": "email", "template": t})
conditions = st.sampled_from(
    [
        {"kind": "opened"},
        {"kind": "clicked"},
        {"kind": "purchased_since_entry"},
        {"kind": "order_value", "min": "15"},
    ]
)


triggers = st.one_of(
    st.sampled_from([{"event": "first_purchase"}, {"event": "any_purchase"}]),
    st.builds(
        lambda hours: {"event": "checkout_abandoned", "abandoned_hours": hours},
        st.integers(1, 6),
    ),
    st.builds(lambda days: {"event": "customer_dormant", "dormant_days": days}, st.integers(1, 5)),
)


@st.composite
def flows(draw: st.DrawFn) -> dict:
    body = draw(st.lists(st.one_of(delays, emails), min_size=1, max_size=6))
    steps: list[dict] = []
    for index, step in enumerate(body):
        steps.append({**step, "id": f"s{index}"})
    if draw(st.booleans()) and len(steps) > 2:
        split_at = draw(st.integers(0, len(steps) - 2))
        target = f"s{draw(st.integers(split_at + 1, len(steps) - 1))}"
        split = {"type": "split", "condition": draw(conditions), "then": target}
        steps.insert(split_at, split)
    if draw(st.booleans()):
        steps.append({"type": "ab_split", "variants": [{"weight": 1}, {"weight": 2}]})
        steps.append({"type": "exit"})
    return {
        "name": "random",
        "trigger": draw(triggers),
        "exit_when": draw(st.sampled_from([[], ["purchased_again"], ["refunded"]])),
        "guards": {
            "smart_sending_hours": draw(st.sampled_from([0, 16])),
            "quiet_hours": draw(st.sampled_from([None, {"start": "21:00", "end": "08:00"}])),
        },
        "steps": steps,
    }


orders = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bob", "cat"]),
        st.integers(0, 20 * 24),
        st.sampled_from(["9.00", "20.00", "45.00"]),
        st.sampled_from(["order", "order", "checkout"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(definition=flows(), history=orders)
def test_every_journey_ends_and_the_report_adds_up(db, definition, history):
    # Each example runs in a savepoint that is rolled back, so examples never meet.
    definition_of.cache_clear()
    with transaction.atomic():
        check_journeys_end(definition, history)
        transaction.set_rollback(True)


def check_journeys_end(definition: dict, history: list) -> None:
    store = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Prop", slug="prop", now=T0
    )
    add_templates(store, T0, "a", "b", "c")
    flow = install_flow(store=store, slug="random", definition=definition, now=T0)
    for number, (customer, hours, total, kind) in enumerate(history):
        at = T0 + dt.timedelta(hours=hours)
        if kind == "checkout":
            start_checkout(store, checkout_id=str(number), customer=customer, at=at, total=total)
        else:
            place_order(store, order_id=str(number), customer=customer, at=at, total=total)
    clock = VirtualClock(T0 - dt.timedelta(hours=1))
    # Timed triggers are looked for every tick; hourly would only slow the example down.
    tick = dt.timedelta(hours=6 if definition["trigger"]["event"] in TIMED_EVENTS else 1)
    run_backtest(
        flow=flow,
        start=T0 - dt.timedelta(hours=1),
        end=T0 + dt.timedelta(days=21),
        clock=clock,
        tick=tick,
    )

    enrollments = Enrollment.objects.filter(flow=flow)
    assert not enrollments.filter(state=EnrollmentState.ACTIVE).exists()
    report = flow_report(flow=flow, now=clock.now())
    ended = enrollments.filter(state__in=[EnrollmentState.COMPLETED, EnrollmentState.EXITED])
    assert report.started == ended.count()
    if report.started:
        assert abs(report.exited_pct + report.completed_pct - 100) < 0.2
    assert all(s.waiting == 0 for s in report.steps)
    for step in report.steps:
        assert 0 <= step.progressed <= report.started
        if step.message is not None:  # every pass through an email step wrote its message
            written = Message.objects.filter(flow=flow, step_index=step.index)
            assert written.count() == step.progressed
            assert not written.exclude(
                status__in=[MessageStatus.QUEUED, MessageStatus.SKIPPED]
            ).exists()
