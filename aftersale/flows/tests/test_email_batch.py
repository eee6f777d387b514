"""The set-based email step (flows.email_batch): a claimed batch of journeys stepped onto
their email in a few statements, with every rule of the per-enrollment path kept."""

import datetime as dt
import functools
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from aftersale.catalog.models import Product
from aftersale.coupons.models import Coupon, CouponProgram, ShopSync
from aftersale.coupons.services import generate_codes, require_shop_sync
from aftersale.customers.models import Customer
from aftersale.customers.services import unsubscribe
from aftersale.flows import email_batch
from aftersale.flows.email_batch import step_onto_emails_in_bulk
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import claim_due, run_due_enrollments
from aftersale.flows.services import enroll_timed_occasions, install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, start_checkout
from aftersale.messaging.models import Message, MessageStatus, SkipReason
from aftersale.orders.models import Checkout
from aftersale.recommendations.services import fit_recommendations

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Monday, 9:00 UTC
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
NO_GUARDS = {"smart_sending_hours": 0, "quiet_hours": None}


def flow(store, slug, steps, *, guards=None, exit_when=(), trigger=None, **more):
    add_templates(
        store,
        T0,
        *{s["template"] for s in steps if s["type"] == "email"}
        - set(store.templates.values_list("slug", flat=True)),
    )
    definition = {
        "name": slug,
        "trigger": trigger or {"event": "any_purchase"},
        "exit_when": list(exit_when),
        "guards": NO_GUARDS if guards is None else guards,
        "holdout_percent": 0,
        "steps": steps,
        **more,
    }
    return install_flow(store=store, slug=slug, definition=definition, now=T0)


def buy(store, customer, *, order_id=None, at=T0, product="milk"):
    order = place_order(
        store, order_id=order_id or f"o-{customer}", customer=customer, at=at, product=product
    )
    process_orders(store=store, order_ids=[order.pk], now=at)
    return order


def outbox() -> list[tuple[Any, ...]]:
    """Every outbox row as the journeys wrote it (whether it carries a coupon: codes are
    random)."""
    rows = Message.objects.order_by("idempotency_key").values_list(
        "idempotency_key",
        "customer__external_id",
        "template__slug",
        "to_email",
        "status",
        "skip_reason",
        "error",
        "send_after",
        "recommendations",
        "order_id",
        "coupon__customer__external_id",
        "coupon__program__slug",
        "campaign",
    )
    return list(rows)


def coupons(pooled: set[int] = frozenset()) -> list[tuple[Any, ...]]:  # type: ignore[assignment]
    """Every coupon handed out: to whom, of which program, on what terms (the code
    itself for a pooled one; a new code is random, only its prefix is known)."""
    rows = Coupon.objects.filter(customer__isnull=False).values_list(
        "pk",
        "customer__external_id",
        "program__slug",
        "code",
        "issued_at",
        "expires_at",
        "shop_sync",
        "redeemed_at",
        "redeemed_order_id",
    )
    return sorted(
        (who, program, code if pk in pooled else code.split("-")[0], *rest)
        for pk, who, program, code, *rest in rows
    )


def journeys() -> list[tuple[Any, ...]]:
    return list(
        Enrollment.objects.order_by("pk").values_list(
            "pk",
            "state",
            "exit_reason",
            "step_index",
            "passed_steps",
            "due_at",
            "ended_at",
            "claimed_by",
        )
    )


def run_at(moments, *, worker_id="w"):
    """Scheduler passes at each moment until none is left due then; what they did."""
    summaries = []
    for moment in moments:
        while (summary := run_due_enrollments(now=moment, limit=50, worker_id=worker_id)).claimed:
            summaries.append(summary)
    return summaries


def outcome_of(moments, *, bulk: bool):
    """The outbox, journeys and coupons after passes at `moments`, with the set-based
    step on or off, everything undone afterwards."""
    pooled = set(Coupon.objects.filter(customer__isnull=True).values_list("pk", flat=True))
    savepoint = transaction.savepoint()
    email_batch.ENABLED = bulk
    try:
        summaries = run_at(moments)
        stepped = sum(s.emails_in_bulk for s in summaries)
        return outbox(), journeys(), coupons(pooled), stepped
    finally:
        email_batch.ENABLED = True
        transaction.savepoint_rollback(savepoint)


def a_store_with_every_kind_of_journey(store):
    """Journeys of several flows and customers that the set-based step takes, and ones
    it must leave to the per-enrollment path, due over ten days."""
    store.time_zone = "UTC"
    store.save()
    flow(
        store,
        "plain",
        [
            {"type": "delay", "hours": 1},
            {"type": "email", "template": "thank-you"},
            {"type": "delay", "days": 2},
            {"type": "email", "template": "follow-up", "recommendations": "cross_sell"},
            {
                "type": "email",
                "template": "right-after",
                "transactional": True,
                "skip_if": ["no_recommendations"],  # it shows none: always skipped
            },
            {"type": "exit"},
        ],
        exit_when=("purchased_again", "refunded", "unsubscribed"),
    )
    flow(
        store,
        "guarded",
        [
            {"type": "delay", "hours": 12},  # 21:00 UTC: quiet hours for most
            {
                "type": "email",
                "template": "guarded",
                "recommendations": "cross_sell",
                "skip_if": ["purchased_since_entry"],
            },
        ],
        guards={"smart_sending_hours": 16, "quiet_hours": {"start": "21:00", "end": "08:00"}},
        trigger={"event": "any_purchase", "min_order_total": "15"},
    )
    flow(
        store,
        "coupon",
        [{"type": "delay", "days": 1}, {"type": "email", "template": "offer", "coupon": "issue"}],
        coupon={"kind": "percent", "amount": "10"},
    )
    flow(
        store,
        "checkout",
        [{"type": "email", "template": "come-back"}],
        trigger={"event": "checkout_abandoned", "abandoned_hours": 1},
        exit_when=("checkout_completed",),
    )
    for n, name in enumerate(["ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal"]):
        buy(store, name, product=("milk", "bread", "eggs", "tea")[n % 4])
    Customer.objects.filter(external_id="hal").update(time_zone="Asia/Tokyo")  # 06:00 there
    Customer.objects.filter(external_id="gus").update(email="")  # no address
    Enrollment.objects.filter(customer__external_id="fay", flow__slug="plain").update(holdout=True)
    buy(store, "bob", order_id="o-bob-2", at=T0 + 2 * HOUR)  # bought again: exits "plain"
    unsubscribe(customer=Customer.objects.get(external_id="cy"), now=T0 + HOUR)
    start_checkout(store, checkout_id="k1", customer="ann", at=T0)
    enroll_timed_occasions(now=T0 + 2 * HOUR, store=store)


MOMENTS = [T0, T0 + HOUR, T0 + 13 * HOUR, T0 + 1 * DAY, T0 + 3 * DAY + HOUR, T0 + 10 * DAY]


@pytest.mark.django_db
def test_the_set_based_step_writes_the_same_emails_and_journeys_as_the_per_enrollment_path(
    store,
):
    a_store_with_every_kind_of_journey(store)

    bulk_outbox, bulk_journeys, bulk_coupons, stepped_in_bulk = outcome_of(MOMENTS, bulk=True)
    one_by_one_outbox, one_by_one_journeys, one_by_one_coupons, none_in_bulk = outcome_of(
        MOMENTS, bulk=False
    )

    assert bulk_outbox == one_by_one_outbox
    assert bulk_journeys == one_by_one_journeys
    assert bulk_coupons == one_by_one_coupons
    assert none_in_bulk == 0 and stepped_in_bulk >= 10  # the set-based step did take some
    statuses = {(row[2], row[4], row[5]) for row in bulk_outbox}
    assert ("guarded", "queued", SkipReason.QUIET_HOURS_MOVED) in statuses
    assert ("right-after", "skipped", SkipReason.FILTER_NO_LONGER_MET) in statuses
    assert ("thank-you", "skipped", SkipReason.MISSING_ADDRESS) in statuses
    assert ("guarded", "skipped", SkipReason.SMART_SENDING) in statuses
    assert any(row[2] == "offer" and row[10] for row in bulk_outbox)  # a coupon issued
    assert all(state in ("completed", "exited") for _, state, *_ in bulk_journeys)


@pytest.mark.django_db
def test_a_holdout_journey_gets_no_marketing_email_but_its_transactional_one(store):
    flow(
        store,
        "f",
        [
            {"type": "email", "template": "news"},
            {"type": "email", "template": "receipt", "transactional": True},
        ],
    )
    buy(store, "ann")
    Enrollment.objects.update(holdout=True)

    (summary,) = run_at([T0])

    # The first step set-based, the next one by advance() in the same pass.
    assert (summary.emails_in_bulk, summary.completed) == (1, 1)
    assert list(Message.objects.values_list("template__slug", flat=True)) == ["receipt"]
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED


@pytest.mark.django_db
def test_a_batch_of_journeys_takes_the_same_few_statements_whatever_its_size(store):
    flow(store, "f", [{"type": "email", "template": "hello"}], exit_when=("purchased_again",))
    for n in range(5):
        buy(store, f"small{n}")
    with CaptureQueriesContext(connection) as small:
        run_due_enrollments(now=T0, worker_id="w")
    for n in range(40):
        buy(store, f"large{n}")
    with CaptureQueriesContext(connection) as large:
        summary = run_due_enrollments(now=T0, worker_id="w")

    assert summary.emails_in_bulk == summary.messages_queued == 40
    # One INSERT for the batch (on SQLite one per 999 bound values: ~30 emails).
    assert len(small.captured_queries) <= 16
    assert len(large.captured_queries) <= len(small.captured_queries) + 1
    assert Message.objects.filter(status=MessageStatus.QUEUED).count() == 45


@pytest.mark.django_db
def test_a_worker_that_lost_a_lease_writes_nothing_and_the_batch_goes_one_by_one(store):
    flow(store, "f", [{"type": "email", "template": "hello"}])
    for name in ("ann", "bob", "cy"):
        buy(store, name)
    claimed = claim_due(now=T0, worker_id="slow", limit=10)
    taken_over = claimed[1]
    Enrollment.objects.filter(pk=taken_over.pk).update(claimed_by="fast")

    bulk = step_onto_emails_in_bulk(enrollments=claimed, now=T0, worker_id="slow")

    assert (bulk.stepped, bulk.queued, bulk.left) == (0, 0, claimed)
    assert not Message.objects.exists()
    assert Enrollment.objects.get(pk=taken_over.pk).claimed_by == "fast"


@pytest.mark.django_db
def test_the_journeys_of_a_worker_killed_after_its_claim_are_stepped_once_by_the_next(store):
    flow(store, "f", [{"type": "email", "template": "hello"}])
    for name in ("ann", "bob"):
        buy(store, name)
    claim_due(now=T0, worker_id="killed", limit=10)  # ... and the worker died

    assert run_due_enrollments(now=T0 + dt.timedelta(seconds=1), worker_id="w").claimed == 0
    later = T0 + 10 * dt.timedelta(minutes=1)  # the dead worker's lease has run out
    assert run_due_enrollments(now=later, worker_id="w").emails_in_bulk == 2
    run_due_enrollments(now=later, worker_id="w")

    assert Message.objects.count() == 2
    assert set(Enrollment.objects.values_list("state", "claimed_by")) == {("completed", "")}


@pytest.mark.django_db
def test_an_email_already_in_the_outbox_for_its_step_is_not_queued_twice(store):
    flow(store, "f", [{"type": "email", "template": "hello"}])
    buy(store, "ann")
    buy(store, "bob")
    email_batch.ENABLED = False
    try:  # ann's email as a retried step would find it: written, the journey not moved
        with transaction.atomic():
            run_due_enrollments(now=T0, worker_id="w")
            kept = Message.objects.get(customer__external_id="ann")
            Message.objects.exclude(pk=kept.pk).delete()
            Enrollment.objects.update(
                state="active", step_index=0, passed_steps=0, due_at=T0, ended_at=None
            )
    finally:
        email_batch.ENABLED = True

    summary = run_due_enrollments(now=T0, worker_id="w")

    assert (summary.emails_in_bulk, summary.messages_queued) == (2, 1)
    assert sorted(Message.objects.values_list("customer__external_id", flat=True)) == [
        "ann",
        "bob",
    ]
    assert Message.objects.filter(customer__external_id="ann").get().pk == kept.pk


@pytest.mark.django_db
def test_two_journeys_of_one_customer_due_together_meet_smart_sending_one_by_one(store):
    guards = {"smart_sending_hours": 16, "quiet_hours": None}
    flow(store, "first", [{"type": "email", "template": "one"}], guards=guards)
    flow(store, "second", [{"type": "email", "template": "two"}], guards=guards)
    buy(store, "ann")  # enters both flows

    summary = run_due_enrollments(now=T0, worker_id="w")

    assert (summary.claimed, summary.emails_in_bulk) == (2, 0)  # left to advance()
    ann = list(Message.objects.order_by("flow__slug").values_list("flow__slug", "status"))
    assert ann == [("first", "queued"), ("second", "skipped")]


def a_store_with_coupon_journeys(store, *, shop_first: bool):
    """Coupon offers of a flow's program and of a step's own, a pool of one bulk code
    (exhausted by the first journey), a stored order redeeming that code, a holdout and
    a customer with no address; optionally codes that go to the shop first."""
    store.time_zone = "Europe/Paris"
    store.save()
    flow(
        store,
        "offers",
        [
            {"type": "delay", "days": 1},
            {
                "type": "email",
                "template": "offer",
                "coupon": "issue",
                "skip_if": ["coupon_redeemed"],
            },
            {"type": "delay", "days": 2},
            {
                "type": "email",
                "id": "last",
                "template": "last-chance",
                "coupon": "issue",
                "offer": {"kind": "fixed", "amount": "5", "valid_days": 3, "code_prefix": "LAST"},
            },
        ],
        coupon={"kind": "percent", "amount": "10", "valid_days": 7},
        exit_when=("unsubscribed",),
    )
    if shop_first:
        require_shop_sync(store=store, now=T0)
    program = CouponProgram.objects.get(store=store, slug="offers")
    generate_codes(program=program, count=1, now=T0)
    for name in ["ann", "bob", "cy", "dee", "eve", "fay"]:
        buy(store, name)
    Customer.objects.filter(external_id="dee").update(email="")
    Enrollment.objects.filter(customer__external_id="eve").update(holdout=True)
    pooled = Coupon.objects.get(customer__isnull=True).code
    # Ann's order with the pool's code, stored before her offer is cut: it redeems at once.
    place_order(store, order_id="o-ann-2", customer="ann", at=T0 + DAY + HOUR, codes=(pooled,))


@pytest.mark.parametrize("shop_first", [False, True])
@pytest.mark.django_db
def test_coupon_steps_issue_the_same_codes_set_based_as_one_by_one(store, shop_first):
    a_store_with_coupon_journeys(store, shop_first=shop_first)
    moments = [T0, T0 + DAY, T0 + 3 * DAY, T0 + 10 * DAY]

    bulk_outbox, bulk_journeys, bulk_coupons, stepped_in_bulk = outcome_of(moments, bulk=True)
    one_outbox, one_journeys, one_coupons, _ = outcome_of(moments, bulk=False)

    assert bulk_outbox == one_outbox
    assert bulk_journeys == one_journeys
    assert bulk_coupons == one_coupons
    assert stepped_in_bulk >= 8
    by_key = {(row[1], row[2]): row for row in bulk_outbox}
    assert by_key["ann", "offer"][4:7] == (
        "skipped",
        SkipReason.FILTER_NO_LONGER_MET,
        "skip_if coupon_redeemed",
    )
    assert by_key["bob", "offer"][10:12] == ("bob", "offers")  # the email carries its code
    assert by_key["bob", "last-chance"][10:12] == ("bob", "offers--last")
    assert ("eve", "offer") not in by_key  # a holdout: no email and no code
    assert by_key["dee", "offer"][5] == SkipReason.MISSING_ADDRESS
    ann = next(c for c in bulk_coupons if c[:2] == ("ann", "offers"))
    assert ann[7] is not None  # her stored order redeemed the pooled code
    sync = {c[5] for c in bulk_coupons}
    assert sync == ({ShopSync.PENDING} if shop_first else {ShopSync.NOT_NEEDED})


@pytest.mark.django_db
def test_codes_issued_in_bulk_are_drawn_again_when_one_is_taken(store, monkeypatch):
    buy(store, "zed")  # before the flow: zed holds a code but no journey
    flow(
        store,
        "offers",
        [{"type": "email", "template": "offer", "coupon": "issue"}],
        coupon={"kind": "percent", "amount": "10", "code_prefix": "C"},
    )
    program = CouponProgram.objects.get(slug="offers")
    zed = Customer.objects.get(external_id="zed")
    Coupon.objects.create(
        store=store, program=program, customer=zed, code="C-TAKEN", issued_at=T0, expires_at=T0
    )
    draws = iter(["TAKEN", "ONE", "TWO", "THREE", "FOUR"])
    monkeypatch.setattr("aftersale.coupons.services._random_code", lambda: next(draws))
    buy(store, "ann")
    buy(store, "bob")

    summary = run_due_enrollments(now=T0, worker_id="w")

    assert (summary.emails_in_bulk, summary.messages_queued) == (2, 2)
    codes = dict(Message.objects.values_list("customer__external_id", "coupon__code"))
    assert codes == {"ann": "C-TWO", "bob": "C-THREE"}  # the whole draw made again


@pytest.mark.django_db
def test_a_coupon_step_without_its_program_is_left_to_the_per_enrollment_path(store):
    flow(
        store,
        "offers",
        [{"type": "email", "template": "offer", "coupon": "issue"}],
        coupon={"kind": "percent", "amount": "10"},
    )
    buy(store, "ann")
    CouponProgram.objects.all().delete()
    claimed = claim_due(now=T0, worker_id="w", limit=10)

    bulk = step_onto_emails_in_bulk(enrollments=claimed, now=T0, worker_id="w")

    assert (bulk.stepped, bulk.left) == (0, claimed)
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_worker_killed_while_issuing_codes_leaves_no_code_and_no_email(store, monkeypatch):
    flow(
        store,
        "offers",
        [{"type": "email", "template": "offer", "coupon": "issue"}],
        coupon={"kind": "percent", "amount": "10"},
    )
    for name in ("ann", "bob", "cy"):
        buy(store, name)
    before = journeys()

    def killed(**kwargs):
        assert Coupon.objects.filter(customer__isnull=False).count() == 3  # codes cut...
        raise KeyboardInterrupt  # ... and the worker dies before its emails are written

    monkeypatch.setattr(email_batch, "queue_messages", killed)
    claimed = claim_due(now=T0, worker_id="killed", limit=10)
    with pytest.raises(KeyboardInterrupt):
        step_onto_emails_in_bulk(enrollments=claimed, now=T0, worker_id="killed")
    monkeypatch.undo()

    assert not Coupon.objects.exists() and not Message.objects.exists()
    assert [j[:5] for j in journeys()] == [j[:5] for j in before]  # not moved on
    later = T0 + 10 * dt.timedelta(minutes=1)  # the dead worker's lease has run out
    assert run_due_enrollments(now=later, worker_id="w").emails_in_bulk == 3
    assert Message.objects.filter(coupon__isnull=False).count() == Coupon.objects.count() == 3


def a_store_with_abandoned_checkouts(store):
    """Abandoned-checkout journeys (a reminder with a coupon, then a last one): a
    checkout that stays as it was, one the store lowered under the trigger's minimum,
    one completed before its reminder, one of a customer with no address."""
    store.time_zone = "UTC"
    store.save()
    flow(
        store,
        "abandoned",
        [
            {"type": "email", "template": "come-back", "coupon": "issue"},
            {"type": "delay", "days": 1},
            {"type": "email", "template": "last-call", "recommendations": "cross_sell"},
        ],
        trigger={
            "event": "checkout_abandoned",
            "abandoned_hours": 1,
            "min_order_total": "15",
            "products": ["milk"],
        },
        coupon={"kind": "fixed", "amount": "5"},
        exit_when=("checkout_completed", "purchased_again"),
    )
    for n, name in enumerate(["ann", "bob", "cy", "dee", "eve"]):
        start_checkout(
            store, checkout_id=f"k-{name}", customer=name, at=T0 + n * dt.timedelta(minutes=1)
        )
    enroll_timed_occasions(now=T0 + 2 * HOUR, store=store)
    # After entry: bob's basket shrank under the minimum, cy's checkout was completed.
    start_checkout(store, checkout_id="k-bob", customer="bob", at=T0, total="9.00")
    Checkout.objects.filter(external_id="k-cy").update(completed_at=T0 + 2 * HOUR)
    Customer.objects.filter(external_id="dee").update(email="")


@pytest.mark.django_db
def test_checkout_journeys_get_the_same_emails_set_based_as_one_by_one(store):
    a_store_with_abandoned_checkouts(store)
    moments = [T0 + 3 * HOUR, T0 + 2 * DAY]

    bulk_outbox, bulk_journeys, bulk_coupons, stepped_in_bulk = outcome_of(moments, bulk=True)
    one_outbox, one_journeys, one_coupons, _ = outcome_of(moments, bulk=False)

    assert bulk_outbox == one_outbox
    assert bulk_journeys == one_journeys
    assert bulk_coupons == one_coupons
    assert stepped_in_bulk == 2 * 2  # ann's and eve's two emails (dee has no address)
    ended = {j.customer.external_id: j.exit_reason for j in Enrollment.objects.all()}
    assert Enrollment.objects.count() == 5 and not Message.objects.exists()  # undone
    sent = {(row[1], row[2]) for row in bulk_outbox if row[4] == "queued"}
    assert sent == {
        ("ann", "come-back"),
        ("ann", "last-call"),
        ("eve", "come-back"),
        ("eve", "last-call"),
    }
    assert ended["bob"] == "" and ended["cy"] == ""  # before the passes
    exits = {row[0]: row[2] for row in bulk_journeys}
    by_customer = dict(Enrollment.objects.values_list("pk", "customer__external_id"))
    assert {by_customer[pk]: why for pk, why in exits.items()} == {
        "ann": "",
        "bob": "checkout_below_min_total",
        "cy": "checkout_completed",
        "dee": "",
        "eve": "",
    }


def a_store_with_reminder_journeys(store):
    """The main flow's offer (a code of the step's own program) then reminder of it
    (`coupon: remind`) for: ann, whose stored order redeems her (pooled) code; cy, who
    held an older code of the flow's program; dee, in quiet hours at the reminder; eve,
    a holdout; bob and fay, who get their offer and reminder plainly. Then a
    reminder-only flow of which only bob holds a code, one zed's order used (no offer
    email carried it; nobody else's reminder has a code)."""
    store.time_zone = "UTC"
    store.save()
    flow(
        store,
        "upsell",
        [
            {"type": "delay", "days": 1},
            {
                "type": "email",
                "id": "offer",
                "template": "cross-sell-offer",
                "recommendations": "cross_sell",
                "coupon": "issue",
                "offer": {"kind": "percent", "amount": "15", "valid_days": 14},
            },
            {"type": "delay", "days": 2},
            {
                "type": "email",
                "template": "offer-reminder",
                # Its own picks would be none here: what it shows is the offer's.
                "recommendations": "replenishment",
                "coupon": "remind",
                "skip_if": ["coupon_redeemed", "no_recommendations"],
            },
        ],
        coupon={"kind": "percent", "amount": "10", "valid_days": 30},
        guards={"smart_sending_hours": 16, "quiet_hours": {"start": "21:00", "end": "08:00"}},
        exit_when=("refunded", "unsubscribed"),
    )
    flow(
        store,
        "nudge",
        [
            {"type": "delay", "days": 5},
            {
                "type": "email",
                "template": "nudge",
                "recommendations": "cross_sell",
                "coupon": "remind",
                "skip_if": ["coupon_redeemed"],
            },
        ],
        coupon={"kind": "fixed", "amount": "5"},
    )
    program = CouponProgram.objects.get(store=store, slug="upsell--offer")
    generate_codes(program=program, count=1, now=T0)  # handed to ann, the first
    for n, name in enumerate(["ann", "bob", "cy", "dee", "eve", "fay"]):
        buy(store, name, product=PRODUCTS[n % 3])
    for name in PRODUCTS:  # priced, one category each: all recommendable
        Product.objects.filter(external_id=name).update(price="4.00", category=name, stock=None)
    fit_recommendations(store=store)  # bestsellers for every customer to be shown
    pooled = Coupon.objects.get(program=program)
    place_order(store, order_id="o-ann-2", customer="ann", at=T0 + DAY, codes=(pooled.code,))
    zed = place_order(store, order_id="o-zed", customer="zed", at=T0 + DAY)
    code = functools.partial(Coupon.objects.create, store=store, issued_at=T0)
    code(
        program=CouponProgram.objects.get(store=store, slug="upsell"),
        customer=Customer.objects.get(external_id="cy"),
        code="OLD",
        expires_at=T0 + 30 * DAY,
    )
    code(
        program=CouponProgram.objects.get(store=store, slug="nudge"),
        customer=Customer.objects.get(external_id="bob"),
        code="NUDGE-BOB",
        expires_at=T0 + 30 * DAY,
        redeemed_at=T0 + DAY,
        redeemed_order=zed,
        redeemed_by=zed.customer,
        redeemed_by_other=True,
    )
    Customer.objects.filter(external_id="dee").update(time_zone="America/Los_Angeles")
    Enrollment.objects.filter(customer__external_id="eve", flow__slug="upsell").update(holdout=True)


PRODUCTS = ("milk", "bread", "eggs", "tea", "jam", "honey")
REMINDER_MOMENTS = [T0, T0 + DAY, T0 + 3 * DAY, T0 + 5 * DAY, T0 + 10 * DAY]


def reminders_both_ways(store) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The reminder store's journeys run set-based and one by one: the same outbox,
    journeys and coupons, the reminders among the emails stepped set-based; the outbox
    rows by (customer, template)."""
    a_store_with_reminder_journeys(store)

    bulk_outbox, bulk_journeys, bulk_coupons, stepped_in_bulk = outcome_of(
        REMINDER_MOMENTS, bulk=True
    )
    one_outbox, one_journeys, one_coupons, _ = outcome_of(REMINDER_MOMENTS, bulk=False)

    assert bulk_outbox == one_outbox
    assert bulk_journeys == one_journeys
    assert bulk_coupons == one_coupons
    # Every email step, offers, reminders and nudges alike (eve's holdout steps too).
    assert stepped_in_bulk == 3 * 6
    return {(row[1], row[2]): row for row in bulk_outbox}


@pytest.mark.django_db
def test_a_reminder_reminds_of_the_code_its_offer_gave_with_the_offers_products(store):
    by_key = reminders_both_ways(store)

    offer, reminder = by_key["fay", "cross-sell-offer"], by_key["fay", "offer-reminder"]
    assert reminder[4:6] == ("queued", "")
    assert reminder[10:12] == offer[10:12] == ("fay", "upsell--offer")  # her code
    assert reminder[8] == offer[8] and offer[8]  # the products of the offer it reminds of


@pytest.mark.django_db
def test_a_reminder_skips_customers_who_used_the_coupon_on_both_paths(store):
    by_key = reminders_both_ways(store)

    assert by_key["ann", "cross-sell-offer"][4] == "queued"
    assert by_key["ann", "offer-reminder"][4:7] == (
        "skipped",
        SkipReason.FILTER_NO_LONGER_MET,
        "skip_if coupon_redeemed",
    )


@pytest.mark.django_db
def test_a_reminder_still_goes_to_a_customer_whose_code_someone_else_used(store):
    by_key = reminders_both_ways(store)

    nudge = by_key["bob", "nudge"]
    assert nudge[4:6] == ("queued", "")
    assert nudge[10:12] == ("bob", "nudge")  # the email carries the code zed used


@pytest.mark.django_db
def test_a_reminder_reminds_of_the_latest_of_two_codes_on_both_paths(store):
    by_key = reminders_both_ways(store)

    # cy's older code was the flow's own program's; the offer's code is the latest.
    assert by_key["cy", "offer-reminder"][10:12] == ("cy", "upsell--offer")


@pytest.mark.django_db
def test_a_reminder_without_a_code_shows_its_own_products_on_both_paths(store):
    by_key = reminders_both_ways(store)

    nudges = [row for (_, template), row in by_key.items() if template == "nudge"]
    assert len(nudges) == 6
    assert all(row[4] == "queued" for row in nudges)
    assert [row[1] for row in nudges if row[10] is not None] == ["bob"]  # the only code
    assert all(row[8] for row in nudges)  # the step's own picks (bob's: no offer either)
    assert any(row[8] for row in nudges)  # its own cross-sell picks


@pytest.mark.django_db
def test_a_reminder_in_quiet_hours_and_a_holdouts_are_as_one_by_one(store):
    by_key = reminders_both_ways(store)

    dee = by_key["dee", "offer-reminder"]
    assert (dee[4], dee[5]) == ("queued", SkipReason.QUIET_HOURS_MOVED)
    assert dee[7] == T0 + 3 * DAY + 7 * HOUR  # 08:00 in Los Angeles (UTC-8)
    assert not [key for key in by_key if key[0] == "eve" and key[1] != "nudge"]


@pytest.mark.django_db
def test_a_batch_of_reminders_takes_the_same_few_statements_whatever_its_size(store):
    flow(
        store,
        "upsell",
        [
            {"type": "email", "template": "offer", "coupon": "issue"},
            {"type": "delay", "days": 1},
            {"type": "email", "template": "reminder", "coupon": "remind"},
        ],
        coupon={"kind": "percent", "amount": "10"},
    )

    def reminders_of(count: int, at: dt.datetime) -> tuple[int, Any]:
        for n in range(count):
            buy(store, f"c{count}-{n}", at=at)
        run_due_enrollments(now=at, worker_id="w")  # their offers
        with CaptureQueriesContext(connection) as captured:
            summary = run_due_enrollments(now=at + DAY, worker_id="w")
        return summary.emails_in_bulk, captured

    small_count, small = reminders_of(5, T0)
    large_count, large = reminders_of(40, T0 + 2 * DAY)

    assert (small_count, large_count) == (5, 40)
    # The latest codes and the offers' products: one query each, whatever the size.
    assert len(large.captured_queries) <= len(small.captured_queries) + 1
    assert Message.objects.filter(template__slug="reminder", coupon__isnull=False).count() == 45
