import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, get_args

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction

from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.customers.services import unsubscribe
from aftersale.flows import batch
from aftersale.flows.batch import advance_delays_in_bulk
from aftersale.flows.definition import ExitRule
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import LeaseLost, advance, claim_due, run_due_enrollments
from aftersale.flows.services import enroll_timed_occasions, install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, start_checkout
from aftersale.orders.models import Checkout
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

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
@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the bulk mover's lock is PostgreSQL's (SQLite has one writer at a time)",
)
def test_a_worker_leaves_bulk_delays_to_the_one_already_moving_them(store):
    delay_flow(store, delay={"days": 1})
    enroll(store, "ann")
    other_worker = psycopg.connect(**_server_of(connection.settings_dict), autocommit=True)
    with other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s, 0)", [batch.BULK_LOCK])
        assert advance_delays_in_bulk(now=T0) == 0
        run_due_enrollments(now=T0)  # the per-enrollment path still moves the journey
        assert state_of("ann") == (1, T0 + dt.timedelta(days=1), "active")
        other_worker.execute("SELECT pg_advisory_unlock(%s, 0)", [batch.BULK_LOCK])
    enroll(store, "bob")
    assert advance_delays_in_bulk(now=T0) == 1


def _server_of(database: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": database["HOST"],
        "port": database["PORT"],
        "user": database["USER"],
        "password": database["PASSWORD"] or None,
        "dbname": database["NAME"],
    }


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


# The set-based path and advance() on every exit rule. Each situation is built once; the
# bulk path (advance_delays_in_bulk, then the per-enrollment path for whatever it left)
# and the per-enrollment path alone (claim + advance) each run from it inside a savepoint
# rolled back afterwards, and must leave the journey in the same state.

ALL_EXIT_RULES: tuple[str, ...] = get_args(ExitRule)
WAIT = dt.timedelta(hours=2)  # the delay: ends after `now`, so advance() stops behind it
MINUTE = dt.timedelta(minutes=1)
R = TypeVar("R")


@dataclass
class World:
    store: Store
    journey: Enrollment
    entered: dt.datetime
    now: dt.datetime

    def other_store(self) -> Store:
        return Store.objects.filter(slug="other-shop").first() or create_store(
            name="Other Shop", slug="other-shop", now=T0
        )


@dataclass(frozen=True)
class Situation:
    rule: str
    fires: bool
    then: Callable[[World], object]
    trigger: str = "order"  # the journey starts with ann's order "1" or checkout "k1"


def _order(store, order_id, customer, at, **lifecycle):
    """Ingest an order without processing it for the flows, as a late import would: only
    the scheduler's own re-check of the exit rules can notice it."""
    line = LineItemRecord("milk", 1, Decimal("20.00"), product_name="Milk")
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=at,
        line_items=(line,),
        **lifecycle,
    )
    ingest_orders(store=store, records=[record], now=at)


def _complete_checkout(store, checkout_id, at):
    Checkout.objects.filter(store=store, external_id=checkout_id).update(completed_at=at)


def _unsubscribe(store, customer):
    unsubscribe(customer=Customer.objects.get(store=store, external_id=customer), now=T0)


def _checkout_in(store, checkout_id, customer):
    start_checkout(store, checkout_id=checkout_id, customer=customer, at=T0)


SITUATIONS = {
    # purchased_again: a purchase after entry, up to now, other than the trigger order.
    "the_customer_bought_again": Situation(
        "purchased_again", True, lambda w: _order(w.store, "2", "ann", w.entered + 5 * MINUTE)
    ),
    "the_customer_bought_again_at_now_exactly": Situation(
        "purchased_again", True, lambda w: _order(w.store, "2", "ann", w.now)
    ),
    "the_customer_bought_nothing_since": Situation("purchased_again", False, lambda w: None),
    "the_later_order_was_cancelled": Situation(
        "purchased_again",
        False,
        lambda w: _order(w.store, "2", "ann", w.entered + MINUTE, cancelled_at=w.now - MINUTE),
    ),
    "the_later_order_was_refunded": Situation(
        "purchased_again",
        False,
        lambda w: _order(w.store, "2", "ann", w.entered + MINUTE, refunded_at=w.now - MINUTE),
    ),
    "the_other_order_was_placed_exactly_at_entry": Situation(
        "purchased_again", False, lambda w: _order(w.store, "2", "ann", w.entered)
    ),
    "the_later_order_is_placed_after_now": Situation(
        "purchased_again", False, lambda w: _order(w.store, "2", "ann", w.now + MINUTE)
    ),
    "another_customer_bought": Situation(
        "purchased_again", False, lambda w: _order(w.store, "2", "bob", w.entered + MINUTE)
    ),
    "a_customer_of_the_same_id_bought_in_another_store": Situation(
        "purchased_again",
        False,
        lambda w: _order(w.other_store(), "2", "ann", w.entered + MINUTE),
    ),
    "the_customer_who_came_from_a_checkout_bought": Situation(
        "purchased_again",
        True,
        lambda w: _order(w.store, "1", "ann", w.entered + MINUTE),
        trigger="checkout",
    ),
    # refunded: the trigger order itself was refunded or cancelled.
    "the_trigger_order_was_refunded": Situation(
        "refunded", True, lambda w: _order(w.store, "1", "ann", T0, refunded_at=w.now - MINUTE)
    ),
    "the_trigger_order_was_cancelled": Situation(
        "refunded", True, lambda w: _order(w.store, "1", "ann", T0, cancelled_at=w.now - MINUTE)
    ),
    "the_trigger_order_was_fulfilled": Situation(
        "refunded", False, lambda w: _order(w.store, "1", "ann", T0, fulfilled_at=w.now - MINUTE)
    ),
    "a_later_order_and_not_the_trigger_order_was_refunded": Situation(
        "refunded",
        False,
        lambda w: _order(w.store, "2", "ann", w.entered + MINUTE, refunded_at=w.now - MINUTE),
    ),
    "the_order_of_the_same_id_was_refunded_in_another_store": Situation(
        "refunded",
        False,
        lambda w: _order(w.other_store(), "1", "ann", T0, refunded_at=w.now - MINUTE),
    ),
    # unsubscribed: the customer may no longer get marketing email.
    "the_customer_unsubscribed": Situation(
        "unsubscribed", True, lambda w: _unsubscribe(w.store, "ann")
    ),
    "the_customer_no_longer_accepts_marketing": Situation(
        "unsubscribed",
        True,
        lambda w: Customer.objects.filter(external_id="ann").update(accepts_marketing=False),
    ),
    "the_customer_is_still_subscribed": Situation("unsubscribed", False, lambda w: None),
    "another_customer_unsubscribed": Situation(
        "unsubscribed",
        False,
        lambda w: (_order(w.store, "2", "bob", T0), _unsubscribe(w.store, "bob")),
    ),
    "a_customer_of_the_same_id_unsubscribed_in_another_store": Situation(
        "unsubscribed",
        False,
        lambda w: (_order(w.other_store(), "1", "ann", T0), _unsubscribe(w.other_store(), "ann")),
    ),
    # checkout_completed: the checkout that started the journey was completed by now.
    "the_trigger_checkout_was_completed": Situation(
        "checkout_completed",
        True,
        lambda w: _complete_checkout(w.store, "k1", w.entered + MINUTE),
        trigger="checkout",
    ),
    "the_trigger_checkout_was_completed_at_now_exactly": Situation(
        "checkout_completed",
        True,
        lambda w: _complete_checkout(w.store, "k1", w.now),
        trigger="checkout",
    ),
    "the_trigger_checkout_is_still_open": Situation(
        "checkout_completed", False, lambda w: None, trigger="checkout"
    ),
    "the_trigger_checkout_completes_only_after_now": Situation(
        "checkout_completed",
        False,
        lambda w: _complete_checkout(w.store, "k1", w.now + MINUTE),
        trigger="checkout",
    ),
    "another_checkout_of_the_customer_was_completed": Situation(
        "checkout_completed",
        False,
        lambda w: (
            _checkout_in(w.store, "k2", "ann"),
            _complete_checkout(w.store, "k2", w.entered + MINUTE),
        ),
        trigger="checkout",
    ),
    "the_checkout_of_the_same_id_was_completed_in_another_store": Situation(
        "checkout_completed",
        False,
        lambda w: (
            _checkout_in(w.other_store(), "k1", "ann"),
            _complete_checkout(w.other_store(), "k1", w.entered + MINUTE),
        ),
        trigger="checkout",
    ),
    "the_journey_started_by_an_order_has_no_checkout_to_complete": Situation(
        "checkout_completed", False, lambda w: _checkout_in(w.store, "k9", "ann")
    ),
}
# Which exit rules the flow has: the one the situation is about, all of them, or all the
# others (then nothing may end the journey: the situation is only about its own rule).
RULE_SETS = ("only_this_rule", "all_rules", "all_other_rules")


def _exit_rules(rule: str, rule_set: str) -> tuple[str, ...]:
    if rule_set == "only_this_rule":
        return (rule,)
    return tuple(r for r in ALL_EXIT_RULES if rule_set == "all_rules" or r != rule)


def _world(store: Store, *, trigger: str, exit_when: tuple[str, ...]) -> World:
    add_templates(store, T0, "thank-you")
    event: dict[str, object] = {"event": "any_purchase"}
    if trigger == "checkout":
        event = {"event": "checkout_abandoned", "abandoned_hours": 1}
    definition = {
        "name": "Rules",
        "trigger": event,
        "exit_when": list(exit_when),
        "steps": [
            {"type": "delay", "hours": WAIT.total_seconds() / 3600},
            {"type": "email", "template": "thank-you"},
        ],
    }
    install_flow(store=store, slug="rules", definition=definition, now=T0)
    if trigger == "checkout":
        _checkout_in(store, "k1", "ann")
        enroll_timed_occasions(now=T0 + dt.timedelta(hours=1), store=store)
    else:
        trigger_order = place_order(store, order_id="1", customer="ann", at=T0)
        process_orders(store=store, order_ids=[trigger_order.pk], now=T0)
    journey = Enrollment.objects.get()
    assert journey.due_at is not None
    return World(store, journey, journey.entered_at, journey.due_at + 30 * MINUTE)


def _journey_after(run: Callable[[], R], journey: Enrollment) -> tuple[R, tuple[Any, ...]]:
    """What `run` returns and the journey's state after it, with everything undone."""
    savepoint = transaction.savepoint()
    result = run()
    e = Enrollment.objects.get(pk=journey.pk)
    transaction.savepoint_rollback(savepoint)
    state = (e.state, e.exit_reason, e.step_index, e.due_at, e.ended_at, e.passed_steps)
    return result, (*state, e.claimed_by, e.claimed_until)


def _claim_and_advance(now: dt.datetime) -> int:
    claimed = claim_due(now=now, worker_id="per-enrollment", limit=10)
    for enrollment in claimed:
        with transaction.atomic():
            advance(enrollment=enrollment, now=now, worker_id="per-enrollment")
    return len(claimed)


def _bulk_then_per_enrollment(now: dt.datetime) -> tuple[int, int]:
    moved = advance_delays_in_bulk(now=now)
    return moved, _claim_and_advance(now)  # the per-enrollment path takes what it left


@pytest.mark.django_db
@pytest.mark.parametrize("rule_set", RULE_SETS)
@pytest.mark.parametrize("situation", SITUATIONS.values(), ids=SITUATIONS.keys())
def test_bulk_delay_and_advance_agree_when(store, situation, rule_set):
    exit_when = _exit_rules(situation.rule, rule_set)
    world = _world(store, trigger=situation.trigger, exit_when=exit_when)
    situation.then(world)
    ends = situation.fires and situation.rule in exit_when

    (moved, claimed_after), after_bulk = _journey_after(
        lambda: _bulk_then_per_enrollment(world.now), world.journey
    )
    claimed, after_advance = _journey_after(lambda: _claim_and_advance(world.now), world.journey)

    assert after_bulk == after_advance
    assert claimed == 1  # both runs started from the same, due journey
    state, reason, step_index, due_at = after_advance[:4]
    if ends:
        assert (state, reason, due_at) == (EnrollmentState.EXITED, situation.rule, None)
        assert (moved, claimed_after) == (0, 1)  # left to advance(), which ended it
    else:
        assert (state, reason, step_index) == (EnrollmentState.ACTIVE, "", 1)
        assert world.journey.due_at is not None
        assert due_at == world.journey.due_at + WAIT
        assert (moved, claimed_after) == (1, 0)  # the bulk path took it: no rule ends it


def test_every_exit_rule_the_definition_knows_has_situations_where_it_ends_and_where_not():
    assert {s.rule for s in SITUATIONS.values() if s.fires} == set(ALL_EXIT_RULES)
    assert {s.rule for s in SITUATIONS.values() if not s.fires} == set(ALL_EXIT_RULES)


def test_the_bulk_path_checks_exactly_the_exit_rules_the_definition_knows():
    assert set(ALL_EXIT_RULES) == batch._KNOWN_EXIT_RULES


@pytest.mark.django_db
def test_a_flow_with_an_exit_rule_the_bulk_path_does_not_know_is_left_to_advance(
    store, monkeypatch
):
    monkeypatch.setattr(batch, "_KNOWN_EXIT_RULES", frozenset({"purchased_again"}))
    world = _world(store, trigger="order", exit_when=("purchased_again", "refunded"))
    _order(store, "1", "ann", T0, refunded_at=world.now - MINUTE)

    assert advance_delays_in_bulk(now=world.now) == 0
    run_due_enrollments(now=world.now)

    assert Enrollment.objects.get().exit_reason == "refunded"
