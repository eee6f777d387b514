import datetime as dt

import pytest
from django.db import transaction

from aftersale.flows.batch import advance_delays_in_bulk
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import LeaseLost, advance, claim_due, run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order

T0 = dt.datetime(2024, 3, 4, 9, 0, 0, 250_000, tzinfo=dt.UTC)


def delay_flow(store, *, delay: dict, exit_when=("purchased_again", "refunded", "unsubscribed")):
    add_templates(store, T0, "thank-you")
    definition = {
        "name": "Delay",
        "trigger": {"event": "any_purchase"},
        "exit_when": list(exit_when),
        "steps": [{"type": "delay", **delay}, {"type": "email", "template": "thank-you"}],
    }
    return install_flow(store=store, slug="delay", definition=definition, now=T0)


def enroll(store, *names: str) -> None:
    orders = [place_order(store, order_id=name, customer=name, at=T0) for name in names]
    process_orders(store=store, order_ids=[o.pk for o in orders], now=T0)


def state_of(name: str) -> tuple[int, dt.datetime | None, str]:
    e = Enrollment.objects.get(customer__external_id=name)
    return e.step_index, e.due_at, e.state


@pytest.mark.django_db
def test_bulk_advance_moves_journeys_past_a_fixed_delay_exactly_as_advance_does(store):
    delay_flow(store, delay={"days": 1, "hours": 2})
    enroll(store, "ann", "bob")
    per_enrollment = Enrollment.objects.get(customer__external_id="bob")
    Enrollment.objects.filter(pk=per_enrollment.pk).update(claimed_until=T0 + dt.timedelta(hours=1))
    assert advance_delays_in_bulk(now=T0) == 1  # bob is leased: left alone
    Enrollment.objects.filter(pk=per_enrollment.pk).update(claimed_until=None)
    run_due_enrollments(now=T0)
    assert state_of("ann") == state_of("bob") == (1, T0 + dt.timedelta(days=1, hours=2), "active")


@pytest.mark.django_db
def test_bulk_advance_leaves_a_customer_who_bought_again_to_the_exit_rules(store):
    delay_flow(store, delay={"hours": 1})
    enroll(store, "ann")
    place_order(store, order_id="2", customer="ann", at=T0 + dt.timedelta(minutes=5))
    later = T0 + dt.timedelta(minutes=10)
    assert advance_delays_in_bulk(now=later) == 0
    run_due_enrollments(now=later)
    assert Enrollment.objects.get().exit_reason == "purchased_again"


@pytest.mark.django_db
def test_bulk_advance_skips_weekday_delays_and_journeys_not_yet_due(store):
    delay_flow(store, delay={"days": 1, "weekdays": ["mon"]})
    enroll(store, "ann")
    assert advance_delays_in_bulk(now=T0) == 0
    assert [e.pk for e in claim_due(now=T0, worker_id="w", limit=5)] == [
        Enrollment.objects.get().pk
    ]


@pytest.mark.django_db
def test_a_worker_whose_lease_ran_out_cannot_overwrite_a_bulk_advance(store):
    delay_flow(store, delay={"hours": 1}, exit_when=())
    enroll(store, "ann")
    (stale,) = claim_due(now=T0, worker_id="slow", limit=5)
    assert advance_delays_in_bulk(now=T0 + dt.timedelta(minutes=10)) == 1  # lease ran out
    with pytest.raises(LeaseLost), transaction.atomic():
        advance(enrollment=stale, now=T0, worker_id="slow")
    assert state_of("ann") == (1, T0 + dt.timedelta(hours=1), EnrollmentState.ACTIVE)
