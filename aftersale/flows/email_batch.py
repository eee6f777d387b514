"""Stepping a claimed batch of journeys onto their email with a few set-based statements.

The per-enrollment path (scheduler.advance) spends about nine statements on each journey
it steps onto an email: its own transaction, the exit rules' orders, the template, the
outbox row's get-or-create, the journey's release. For a batch the scheduler's claim
(scheduler.claim_due: (due_at, id) order, FOR UPDATE SKIP LOCKED on PostgreSQL) has just
leased, this module does the same for every journey where advance() would come to a
result known in advance, per (flow version, email step):

- one query finds the journeys of the batch that no exit rule could end now (the checks
  of flows.batch, which mirror advance()'s), whose customer
  has no other journey due (so no other email of this pass could meet this one in smart
  sending, whatever their order) and, under `skip_if: purchased_since_entry`, bought
  nothing since entry; a checkout's journey also needs its checkout to pass the
  trigger's filters still (one query for the batch's checkouts, as unmet_filter checks
  one);
- one query (messaging's marketing_emailed) those whose customer got a marketing email
  within the smart-sending window, when the step's guards check it: they go one by one
  (skipped or delayed there);
- the template is looked up once; quiet hours, the holdout and the products shown are
  decided per journey in Python as run_email_step decides them;
- then, in one transaction, one UPDATE moves the journeys past the step and gives up
  their leases (only while this worker still holds every one: else the batch is rolled
  back and goes one by one, where a lost lease is refused), and one INSERT queues their
  outbox rows, keyed as advance() keys them, so a retried batch queues nothing twice.
  A coupon step issues the batch's codes in that transaction too, in a few statements
  (coupons.services.issue_coupons: the pool's codes first, then new unique ones), so a
  batch rolled back or killed hands out no code. A reminder (`coupon: remind`) looks up
  its customers' latest codes of the flow's programs in one query
  (coupons.selectors.latest_coupons_of) and the products of the offer emails that
  carried them in another (outbox.selectors.recommendations_offered_many), where
  run_email_step asks both once per journey.

Every other journey of the batch goes through advance() as before: a version whose
trigger filters by segment, or with an exit rule unknown here; a journey another rule or
guard may stop; a missing template or coupon program.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL

from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.coupons.selectors import latest_coupons_of
from aftersale.coupons.services import issue_coupons
from aftersale.flows.batch import (
    _KNOWN_EXIT_RULES,
    _exit_safe_sql,
    _not_purchased_again,
    _Table,
    fixed_seconds,
    later_sql,
)
from aftersale.flows.definition import EmailStep, ExitStep, FlowDefinition, Guards
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.occasions import checkouts_with_products
from aftersale.flows.selectors import coupon_program_ids, coupon_program_of, definition_of
from aftersale.flows.steps import message_key, recommendations_for, store_guards
from aftersale.flows.timing import outside_quiet_hours, zone_named
from aftersale.lib import bulk
from aftersale.messaging.models import EmailTemplate, SkipReason
from aftersale.messaging.outbox.selectors import (
    marketing_emailed,
    recommendations_offered_many,
    template_by_slug,
)
from aftersale.messaging.outbox.services import EmailToQueue, queue_messages
from aftersale.orders.models import Checkout

# benchmarks/email_step.py turns it off to time the per-enrollment path alone.
ENABLED = True


@dataclass
class BulkEmails:
    """What the set-based email step did with a batch, and what it left to advance()."""

    left: list[Enrollment]
    stepped: int = 0
    queued: int = 0
    completed: int = 0


@dataclass(frozen=True)
class _Group:
    """The journeys of one flow version at one email step, and what the step does."""

    definition: FlowDefinition
    index: int
    step: EmailStep
    next_index: int
    ends: str | None  # the exit reason when the journey completes after the email
    then_seconds: int | None  # the fixed delay that follows the email, in seconds
    after_delay_index: int  # the step after that delay
    guards: Guards
    template: EmailTemplate
    program: CouponProgram | None  # the program a coupon step issues codes of
    # A reminder's: the flow's programs, whose latest code it reminds of (None: no reminder).
    reminded_programs: tuple[int, ...] | None = None


def step_onto_emails_in_bulk(
    *, enrollments: Sequence[Enrollment], now: dt.datetime, worker_id: str
) -> BulkEmails:
    """Run the email step of every journey of `enrollments` (claimed by `worker_id`, due
    at `now`, in the claim's order) for which the per-enrollment path's outcome is known
    in advance, exactly as scheduler.advance would run it (the email queued, moved by
    quiet hours, skipped for want of products, or none for a holdout; the journey moved
    past the step and, at the flow's end, completed), and release them. Returns the
    counts and the journeys left, in their order, for advance()."""
    done = BulkEmails(left=[])
    if not ENABLED:
        done.left = list(enrollments)
        return done
    by_group: dict[tuple[int, int], list[Enrollment]] = {}
    for enrollment in enrollments:
        by_group.setdefault((enrollment.version_id, enrollment.step_index), []).append(enrollment)
    taken: set[int] = set()
    for (version_id, index), journeys in by_group.items():
        group = _group(version_id, index, journeys[0])
        if group is None:
            continue
        batch = _bulk_ready(group, journeys, now)
        if not batch:
            continue
        going_on = _step_in_one_transaction(group, batch, now=now, worker_id=worker_id, done=done)
        if going_on is not None:
            taken.update(e.pk for e in batch)
            taken.difference_update(e.pk for e in going_on)
    done.left = [e for e in enrollments if e.pk not in taken]
    return done


def _group(version_id: int, index: int, sample: Enrollment) -> _Group | None:
    """What the set-based path needs of the step, or None when it cannot run it."""
    definition = definition_of(version_id)
    if index >= len(definition.steps):
        return None
    step = definition.steps[index]
    if not isinstance(step, EmailStep):
        return None
    if not set(definition.exit_when) <= _KNOWN_EXIT_RULES or definition.trigger.segment:
        return None
    template = template_by_slug(store=sample.store, slug=step.template)
    if template is None:
        return None  # advance() raises for it, as it always has
    program = None
    if step.coupon == "issue":
        program = coupon_program_of(flow=sample.flow, step_id=step.id if step.offer else "")
        if program is None:
            return None  # advance() raises for it too
    reminded_programs = None
    if step.coupon == "remind":
        reminded_programs = tuple(coupon_program_ids(flow=sample.flow, definition=definition))
    next_index = definition.index_of(step.next, after=index)
    ends: str | None = None
    then_seconds, after_delay_index = None, next_index
    if next_index >= len(definition.steps):
        ends = ""
    elif isinstance(definition.steps[next_index], ExitStep):
        ends = "exit_step"
    elif (then_seconds := fixed_seconds(definition.steps[next_index])) is not None:
        after_delay_index = definition.index_of(definition.steps[next_index].next, after=next_index)
    return _Group(
        definition=definition,
        index=index,
        step=step,
        next_index=next_index,
        ends=ends,
        then_seconds=then_seconds,
        after_delay_index=after_delay_index,
        guards=store_guards(definition, sample.store),
        template=template,
        program=program,
        reminded_programs=reminded_programs,
    )


def _bulk_ready(group: _Group, journeys: list[Enrollment], now: dt.datetime) -> list[Enrollment]:
    """The journeys of `journeys` whose email step has a known outcome (see the module)."""
    marketing = not group.step.transactional
    needs_address = [e for e in journeys if not (e.holdout and marketing)]
    if any(not e.customer.email for e in needs_address):
        missing = {e.pk for e in needs_address if not e.customer.email}
        journeys = [e for e in journeys if e.pk not in missing]
    clear = _clear_of_rules(group, [e.pk for e in journeys], now)
    journeys = [e for e in journeys if e.pk in clear]
    checkouts = {e.trigger_checkout_id for e in journeys if e.trigger_checkout_id is not None}
    if checkouts:
        matching = _checkouts_still_matching(group, checkouts)
        journeys = [
            e
            for e in journeys
            if e.trigger_checkout_id is None or e.trigger_checkout_id in matching
        ]
    hours = group.guards.smart_sending_hours
    if marketing and hours and journeys:
        emailed = marketing_emailed(
            customer_ids=[e.customer_id for e in journeys],
            since=now - dt.timedelta(hours=hours),
            until=now,
        )
        journeys = [e for e in journeys if e.customer_id not in emailed]
    return journeys


def _clear_of_rules(group: _Group, ids: list[int], now: dt.datetime) -> set[int]:
    """Of the journeys `ids`, those no exit rule, trigger filter, skip rule or other due
    journey of their customer could change the email step of: one query."""
    if not ids:
        return set()
    c, o = _Table(Enrollment, "c"), _Table(Enrollment, "o")
    purchased = (
        f" AND {_not_purchased_again(c)}" if "purchased_since_entry" in group.step.skip_if else ""
    )
    # SQLite would look the customer's other journeys up through the due index (all due
    # rows) instead of (customer, state): a unary + keeps due_at out of the choice.
    unindexed = "+" if connection.vendor == "sqlite" else ""
    sql = f"""
        SELECT {c["pk"]} FROM {c}
        WHERE {c["pk"]} IN ({", ".join(str(int(pk)) for pk in ids)})
          AND NOT EXISTS (
              SELECT 1 FROM {o} WHERE {o["customer"]} = {c["customer"]}
              AND {o["state"]} = %(active)s AND {unindexed}{o["due_at"]} <= %(now)s
              AND {o["pk"]} <> {c["pk"]}
          ){_exit_safe_sql(c, tuple(group.definition.exit_when))}{purchased}
    """
    params = {
        "now": connection.ops.adapt_datetimefield_value(now),
        "active": EnrollmentState.ACTIVE.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _checkouts_still_matching(group: _Group, checkout_ids: set[int]) -> set[int]:
    """Of the journeys' trigger checkouts, those that still pass the flow's trigger
    filters (the store may have changed a checkout since its journey began): the checks
    of conditions.unmet_filter, in one query; the others' journeys go one by one and
    exit there."""
    trigger = group.definition.trigger
    still = Checkout.objects.filter(pk__in=checkout_ids, total__gte=trigger.min_order_total)
    if trigger.products or trigger.categories:
        still = still.filter(pk__in=checkouts_with_products(trigger=trigger))
    return set(still.values_list("pk", flat=True))


class _Lost(Exception):
    """Some journey of the batch was taken over after its lease ran out."""


def _step_in_one_transaction(
    group: _Group, batch: list[Enrollment], *, now: dt.datetime, worker_id: str, done: BulkEmails
) -> list[Enrollment] | None:
    """Queue the batch's emails and move its journeys on (past a fixed delay after the
    email too, when it ends after `now`); return the journeys that go on with a step due
    now, still leased, for advance() to continue; None (nothing written) when this
    worker no longer holds every journey of the batch."""
    ends, waits, goes_on = [], [], []
    for enrollment in batch:
        if group.ends is not None:
            ends.append(enrollment.pk)
        elif group.then_seconds is not None and _waits(enrollment, group.then_seconds, now):
            waits.append(enrollment.pk)
        else:
            goes_on.append(enrollment)
    try:
        with transaction.atomic():
            moved = _update(ends, _ended, group, worker_id)
            moved += _update(waits, _waiting, group, worker_id)
            moved += _update([e.pk for e in goes_on], _going_on, group, worker_id)
            if moved != len(batch):
                raise _Lost
            coupons = _coupons_of(group, batch, now)
            offered = _offers_reminded_of(group, batch, coupons)
            emails = [
                _email_of(group, e, now, coupons.get(e.customer_id), offered.get(e.pk))
                for e in batch
            ]
            queued = queue_messages(
                store_id=group.template.store_id,
                template=group.template,
                now=now,
                emails=[email for email in emails if email is not None],
            )
    except _Lost:
        return None
    for enrollment in goes_on:  # as advance() holds it when it carries on
        enrollment.step_index = group.next_index
        enrollment.passed_steps |= 1 << group.index
    done.stepped += len(batch)
    done.queued += queued
    done.completed += len(ends)
    return goes_on


def _waits(enrollment: Enrollment, seconds: int, now: dt.datetime) -> bool:
    assert enrollment.due_at is not None
    return enrollment.due_at + dt.timedelta(seconds=seconds) > now


def _ended(group: _Group) -> dict[str, Any]:
    """The SET of journeys whose flow ends after the email (with an exit step or none)."""
    bits = 1 << group.index | (1 << group.next_index if group.ends else 0)
    return {
        "step_index": group.next_index,
        "passed_steps": F("passed_steps").bitor(bits),
        "state": EnrollmentState.COMPLETED,
        "exit_reason": group.ends,
        "ended_at": F("due_at"),  # the moment the journey came to its end
        "due_at": None,
        **_RELEASED,
    }


def _waiting(group: _Group) -> dict[str, Any]:
    """The SET of journeys that go on to wait at the fixed delay after the email."""
    assert group.then_seconds is not None
    return {
        "step_index": group.after_delay_index,
        "passed_steps": F("passed_steps").bitor(1 << group.index | 1 << group.next_index),
        # In the bulk delay mover's own date arithmetic (same text form on SQLite).
        "due_at": RawSQL(_LATER.replace("%(seconds)s", "%s"), (group.then_seconds,)),
        **_RELEASED,
    }


def _going_on(group: _Group) -> dict[str, Any]:
    """The SET of journeys with another step due now: past the email, still leased."""
    return {
        "step_index": group.next_index,
        "passed_steps": F("passed_steps").bitor(1 << group.index),
    }


_RELEASED: dict[str, Any] = {"claimed_by": "", "claimed_until": None}
_LATER = later_sql(_Table(Enrollment).column("due_at"))


def _update(
    ids: list[int], values: Callable[[_Group], dict[str, Any]], group: _Group, worker_id: str
) -> int:
    """Write `values` of `group` into the journeys `ids` this worker still holds; how
    many."""
    if not ids:
        return 0
    held = Enrollment.objects.filter(bulk.id_in("pk", ids), claimed_by=worker_id)
    return held.update(**values(group))


def _gets_email(group: _Group, enrollment: Enrollment) -> bool:
    return group.step.transactional or not enrollment.holdout


def _coupons_of(group: _Group, batch: list[Enrollment], now: dt.datetime) -> dict[int, Coupon]:
    """The codes the batch's emails carry, by customer (no holdout gets a marketing
    email, nor its code): those a coupon step issues, in the claim's order as advance()
    would issue them; for a reminder each customer's latest code of the flow's programs,
    as run_email_step looks it up (one query)."""
    customers = [e.customer_id for e in batch if _gets_email(group, e)]
    if group.program is not None:
        return issue_coupons(program=group.program, customer_ids=customers, now=now)
    if group.reminded_programs is not None:
        return latest_coupons_of(program_ids=group.reminded_programs, customer_ids=customers)
    return {}


def _offers_reminded_of(
    group: _Group, batch: list[Enrollment], coupons: dict[int, Coupon]
) -> dict[int, list[Any]]:
    """For a reminder, journey id -> the products of the offer it reminds of (the first
    email of that journey that carried the customer's code in `coupons`), for the
    journeys with such an email (one query); the others show the step's own picks."""
    if group.reminded_programs is None:
        return {}
    codes = {e.pk: coupon.pk for e in batch if (coupon := coupons.get(e.customer_id))}
    offered = recommendations_offered_many(pairs=codes.items())
    return {pk: offered[pk, code] for pk, code in codes.items() if (pk, code) in offered}


def _email_of(
    group: _Group,
    enrollment: Enrollment,
    now: dt.datetime,
    coupon: Coupon | None,
    offered: list[Any] | None,
) -> EmailToQueue | None:
    """The outbox row run_email_step would write for `enrollment` with `coupon`, showing
    the products `offered` (a reminder's offer) or else the step's own picks (None: a
    holdout's)."""
    step = group.step
    if not _gets_email(group, enrollment):
        return None
    if (
        "coupon_redeemed" in step.skip_if
        and coupon is not None
        and coupon.redeemed_at
        and not coupon.redeemed_by_other
    ):
        return _skipped(group, enrollment, now, "skip_if coupon_redeemed")
    send_after = now
    if not step.transactional:
        send_after = outside_quiet_hours(
            moment=now, quiet=group.guards.quiet_hours, zone=_zone(enrollment)
        )
    picks = (
        offered
        if offered is not None
        else recommendations_for(enrollment=enrollment, step=step, now=now)
    )
    reason = SkipReason.QUIET_HOURS_MOVED if send_after > now else None
    if "no_recommendations" in step.skip_if and not picks:
        return _skipped(group, enrollment, now, "skip_if no_recommendations")
    return _row(
        group,
        enrollment,
        send_after=send_after,
        recommendations=picks,
        skip_reason=reason,
        coupon_id=coupon.pk if coupon is not None else None,
    )


def _skipped(group: _Group, enrollment: Enrollment, now: dt.datetime, because: str) -> EmailToQueue:
    """The row run_email_step's _skipped writes: decided against (a filter no longer
    met), with why, no coupon and no products."""
    return _row(
        group,
        enrollment,
        send_after=now,
        skipped_because=because,
        skip_reason=SkipReason.FILTER_NO_LONGER_MET,
    )


def _row(group: _Group, enrollment: Enrollment, **fields: Any) -> EmailToQueue:
    """The outbox row of `enrollment`'s email step `group`, with `fields` its own."""
    return EmailToQueue(
        idempotency_key=message_key(enrollment, step_index=group.index),
        customer_id=enrollment.customer_id,
        to_email=enrollment.customer.email,
        flow_id=enrollment.flow_id,
        enrollment_id=enrollment.pk,
        step_index=group.index,
        order_id=enrollment.trigger_order_id,
        checkout_id=enrollment.trigger_checkout_id,
        campaign=enrollment.flow.slug,
        **fields,
    )


def _zone(enrollment: Enrollment) -> ZoneInfo:
    return zone_named(enrollment.customer.time_zone, fallback=enrollment.store.time_zone)
