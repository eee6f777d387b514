import datetime as dt

import pytest

from aftersale.coupons.models import Coupon
from aftersale.flows.backtest import run_backtest
from aftersale.flows.definition import InvalidFlowDefinition, parse_definition
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import claim_due, run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, MessageStatus

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def upsell(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    return install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)


def sent_templates(customer_email: str) -> list[str]:
    return list(
        Message.objects.filter(to_email=customer_email)
        .exclude(status=MessageStatus.SKIPPED)
        .order_by("step_index")
        .values_list("template__slug", flat=True)
    )


def backtest(flow, until: dt.datetime) -> None:
    clock = VirtualClock(T0 - dt.timedelta(hours=1))
    run_backtest(flow=flow, start=T0 - dt.timedelta(hours=1), end=until, clock=clock)


def run_hourly(start: dt.datetime, end: dt.datetime) -> None:
    """What a worker polling every hour would do between `start` and `end`."""
    now = start
    while now <= end:
        run_due_enrollments(now=now)
        now += dt.timedelta(hours=1)


def test_a_customer_who_never_buys_again_gets_all_three_messages(store, upsell):
    place_order(store, order_id="1", customer="ann", at=T0)
    backtest(upsell, T0 + 30 * DAY)
    assert sent_templates("ann@example.com") == ["thank-you", "offer", "reminder"]
    enrollment = Enrollment.objects.get(customer__external_id="ann")
    assert enrollment.state == EnrollmentState.COMPLETED


def test_messages_wait_for_their_delays(store, upsell):
    place_order(store, order_id="1", customer="ann", at=T0)
    backtest(upsell, T0 + 30 * DAY)
    queued = dict(Message.objects.values_list("template__slug", "queued_at"))
    assert queued["thank-you"] - T0 <= dt.timedelta(hours=2)
    assert queued["offer"] - queued["thank-you"] >= 3 * DAY
    assert queued["reminder"] - queued["offer"] >= 4 * DAY


def test_a_customer_who_purchases_again_exits_before_the_next_message(store, upsell):
    place_order(store, order_id="1", customer="bob", at=T0)
    place_order(store, order_id="2", customer="bob", at=T0 + 2 * DAY)
    backtest(upsell, T0 + 30 * DAY)
    assert sent_templates("bob@example.com") == ["thank-you"]
    enrollment = Enrollment.objects.get(customer__external_id="bob")
    assert (enrollment.state, enrollment.exit_reason) == (EnrollmentState.EXITED, "purchased_again")
    assert enrollment.ended_at == T0 + 2 * DAY


def test_the_offer_carries_a_unique_coupon_that_the_reminder_repeats(store, upsell):
    place_order(store, order_id="1", customer="ann", at=T0)
    place_order(store, order_id="2", customer="cat", at=T0)
    backtest(upsell, T0 + 30 * DAY)
    offers = Message.objects.filter(template__slug="offer").select_related("coupon")
    codes = {m.coupon.code for m in offers if m.coupon is not None}
    assert len(codes) == 2
    for reminder in Message.objects.filter(template__slug="reminder"):
        offer = offers.get(customer=reminder.customer)
        assert reminder.coupon_id == offer.coupon_id
        assert reminder.recommendations == offer.recommendations


def test_reminder_skips_customers_who_used_the_coupon(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    install_flow(store=store, slug="upsell", definition=upsell_definition(exit_when=()), now=T0)
    first = place_order(store, order_id="1", customer="cat", at=T0)
    process_orders(store=store, order_ids=[first.pk], now=T0)
    run_hourly(T0, T0 + 4 * DAY)
    code = Coupon.objects.get(customer__external_id="cat").code
    redeeming = place_order(store, order_id="2", customer="cat", at=T0 + 5 * DAY, codes=(code,))
    process_orders(store=store, order_ids=[redeeming.pk], now=T0 + 5 * DAY)
    run_hourly(T0 + 5 * DAY, T0 + 30 * DAY)
    assert Coupon.objects.get(code=code).redeemed_order == redeeming
    assert sent_templates("cat@example.com") == ["thank-you", "offer"]
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED


def test_a_coupon_someone_else_used_does_not_skip_the_recipients_reminder(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    install_flow(store=store, slug="upsell", definition=upsell_definition(exit_when=()), now=T0)
    first = place_order(store, order_id="1", customer="cat", at=T0)
    process_orders(store=store, order_ids=[first.pk], now=T0)
    run_hourly(T0, T0 + 4 * DAY)
    code = Coupon.objects.get(customer__external_id="cat").code
    shared = place_order(store, order_id="2", customer="eve", at=T0 + 5 * DAY, codes=(code,))
    process_orders(store=store, order_ids=[shared.pk], now=T0 + 5 * DAY)
    run_hourly(T0 + 5 * DAY, T0 + 30 * DAY)
    coupon = Coupon.objects.get(code=code)
    assert coupon.redeemed_order == shared and coupon.redeemed_by_other
    assert sent_templates("cat@example.com") == ["thank-you", "offer", "reminder"]


def _with_step_offer(definition: dict, **offer) -> dict:
    """`definition` whose offer email has its own coupon program."""
    step = next(s for s in definition["steps"] if s.get("template") == "offer")
    step.update(id="offer", offer={"kind": "fixed", "amount": "5", **offer})
    return definition


def test_a_step_with_its_own_offer_issues_codes_of_its_own_program_and_the_reminder_repeats_it(
    store,
):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    definition = _with_step_offer(upsell_definition(exit_when=()), code_prefix="STEP")
    install_flow(store=store, slug="upsell", definition=definition, now=T0)
    first = place_order(store, order_id="1", customer="cat", at=T0)
    process_orders(store=store, order_ids=[first.pk], now=T0)
    run_hourly(T0, T0 + 30 * DAY)

    coupon = Coupon.objects.get(customer__external_id="cat")
    assert coupon.program.slug == "upsell--offer" and coupon.code.startswith("STEP-")
    assert coupon.program.kind == "fixed"
    reminder = Message.objects.get(template__slug="reminder")
    assert reminder.coupon_id == coupon.pk


def test_a_step_with_its_own_offer_needs_an_id_and_coupon_issue():
    definition = _with_step_offer(upsell_definition())
    step = next(s for s in definition["steps"] if s.get("template") == "offer")
    step.update(id="", coupon="none")

    with pytest.raises(InvalidFlowDefinition, match="needs an `id` and `coupon: issue`"):
        parse_definition(definition)


def test_a_flow_whose_only_coupon_is_a_steps_own_needs_no_flow_coupon():
    definition = _with_step_offer(upsell_definition())
    del definition["coupon"]

    assert parse_definition(definition).coupon is None


def test_only_the_first_purchase_starts_the_flow(store, upsell):
    place_order(store, order_id="1", customer="dan", at=T0 - 10 * DAY)
    place_order(store, order_id="2", customer="dan", at=T0 + DAY)
    backtest(upsell, T0 + 30 * DAY)
    assert not Enrollment.objects.exists()


def test_the_same_order_processed_twice_enrolls_once(store, upsell):
    order = place_order(store, order_id="1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    assert Enrollment.objects.count() == 1


def test_a_claimed_enrollment_is_not_claimed_by_a_second_worker(store, upsell):
    order = place_order(store, order_id="1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    first = claim_due(now=T0, worker_id="a", limit=10)
    second = claim_due(now=T0, worker_id="b", limit=10)
    assert [e.pk for e in first] == [Enrollment.objects.get().pk]
    assert second == []


def test_journeys_due_at_the_same_moment_are_claimed_in_the_order_they_started(store, upsell):
    for n in range(4):
        order = place_order(store, order_id=str(n), customer=f"c{n}", at=T0)
        process_orders(store=store, order_ids=[order.pk], now=T0)
    started = list(Enrollment.objects.order_by("pk").values_list("pk", flat=True))
    # Rewriting the first journeys' due time moves their rows behind the others on
    # PostgreSQL's disk, which a due-time-only order would then return first.
    first_two = Enrollment.objects.filter(pk__in=started[:2])
    first_two.update(due_at=T0 - DAY)
    first_two.update(due_at=T0)
    assert [e.pk for e in claim_due(now=T0, worker_id="a", limit=10)] == started


def test_an_expired_lease_lets_another_worker_finish_the_step_once(store, upsell):
    order = place_order(store, order_id="1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    claim_due(now=T0, worker_id="crashed", limit=10)  # this worker dies holding the lease
    within_lease = T0 + dt.timedelta(minutes=2)
    assert run_due_enrollments(now=within_lease, worker_id="b").claimed == 0
    after_lease = T0 + dt.timedelta(minutes=10)
    moved = run_due_enrollments(now=after_lease, worker_id="b")
    assert moved.claimed + moved.moved_in_bulk == 1
    after_delay = T0 + dt.timedelta(hours=2)
    run_due_enrollments(now=after_delay, worker_id="b")
    run_due_enrollments(now=after_delay, worker_id="c")
    assert sent_templates("ann@example.com") == ["thank-you"]
