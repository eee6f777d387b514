"""The scheduler: claims due enrollments and runs their steps.

A worker claims rows with a conditional UPDATE that only succeeds for rows nobody holds,
runs each enrollment's due steps in one transaction that also writes the emails to the
outbox (messaging.Message, unique per enrollment, step and version), and releases the row
in that same transaction. A worker killed at any point leaves either the old state (the
lease expires and another worker redoes the step) or the new one: a step is never lost
and never queued twice.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from aftersale.flows.batch import advance_delays_in_bulk
from aftersale.flows.conditions import ab_variant, condition_holds, unmet_filter
from aftersale.flows.definition import (
    DelayStep,
    EmailStep,
    ExitStep,
    FlowDefinition,
    SplitStep,
)
from aftersale.flows.email_batch import step_onto_emails_in_bulk
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.selectors import definition_of
from aftersale.flows.services import exit_reason
from aftersale.flows.steps import run_email_step
from aftersale.flows.timing import DELIVERY_RECHECK, delay_end, zone_named
from aftersale.lib.claims import LeaseLost, claim_rows, free_at, release_row
from aftersale.orders.models import Checkout, Order
from aftersale.stores.models import Store


@dataclass
class PassSummary:
    """What one scheduler pass did."""

    claimed: int = 0
    moved_in_bulk: int = 0
    messages_queued: int = 0
    completed: int = 0
    exited: int = 0
    emails_in_bulk: int = 0  # journeys of `claimed` stepped onto their email set-based


def run_due_enrollments(
    *,
    now: dt.datetime,
    store: Store | None = None,
    limit: int | None = None,
    worker_id: str | None = None,
    flow: Flow | None = None,
) -> PassSummary:
    """Move journeys waiting at plain delays past them in bulk, then claim up to `limit`
    enrollments due at `now`, step those at an email step onto their email set-based
    where the outcome is known in advance (flows.email_batch), and run the others' due
    steps one by one (only `flow`'s journeys when given: a backtest's)."""
    worker_id = worker_id or uuid.uuid4().hex
    summary = PassSummary(moved_in_bulk=advance_delays_in_bulk(now=now, store=store, flow=flow))
    claimed = claim_due(
        now=now,
        store=store,
        worker_id=worker_id,
        limit=limit or settings.SCHEDULER_BATCH_SIZE,
        flow=flow,
    )
    summary.claimed = len(claimed)
    bulk = step_onto_emails_in_bulk(enrollments=claimed, now=now, worker_id=worker_id)
    summary.emails_in_bulk, summary.messages_queued = bulk.stepped, bulk.queued
    summary.completed = bulk.completed
    for enrollment in bulk.left:
        try:
            with transaction.atomic():
                queued = advance(enrollment=enrollment, now=now, worker_id=worker_id)
        except LeaseLost:
            continue
        summary.messages_queued += queued
        summary.completed += enrollment.state == EnrollmentState.COMPLETED
        summary.exited += enrollment.state == EnrollmentState.EXITED
    return summary


def claim_due(
    *,
    now: dt.datetime,
    worker_id: str,
    limit: int,
    store: Store | None = None,
    flow: Flow | None = None,
) -> list[Enrollment]:
    """Take a lease (claimed_by=`worker_id` until now + the lease time) on up to `limit`
    due enrollments nobody else holds and return them, earliest due first and, among
    equals, the first started first. Two workers claiming at the same moment never get
    the same enrollment: PostgreSQL picks rows with FOR UPDATE SKIP LOCKED, other
    databases (SQLite) lease with a conditional UPDATE that only touches rows still free."""
    lease_until = now + dt.timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)
    due = Enrollment.objects.filter(free_at(now), state=EnrollmentState.ACTIVE, due_at__lte=now)
    if store is not None:
        due = due.filter(store=store)
    if flow is not None:
        due = due.filter(flow=flow)
    # Ties go to the journey that started first, so two flows due at the same moment
    # always meet smart sending in the same order, on every database.
    earliest_first = ("due_at", "pk")
    claimed = claim_rows(
        due.order_by(*earliest_first), limit=limit, token=worker_id, until=lease_until
    )
    return list(
        claimed.select_related("flow", "customer", "store", "trigger_order").order_by(
            *earliest_first
        )
    )


def advance(*, enrollment: Enrollment, now: dt.datetime, worker_id: str) -> int:
    """Run every step of `enrollment` that is due at `now`, then release it; return the
    number of emails queued. Call inside a transaction."""
    definition = definition_of(enrollment.version_id)
    if _exit_if_ruled_out(enrollment, definition, now):
        return _release(enrollment, worker_id)
    queued = 0
    # Jumps only go forward, so a journey ends within len(steps) + 1 rounds.
    for _ in range(len(definition.steps) + 1):
        if enrollment.due_at is None or enrollment.due_at > now:
            break
        if enrollment.step_index >= len(definition.steps):
            _complete(enrollment, reason="")
            break
        index = enrollment.step_index
        queued += _run_step(enrollment, definition, now)
        # A journey that exits at a step has not gone past it; one completed there has.
        if enrollment.step_index != index or enrollment.state == EnrollmentState.COMPLETED:
            enrollment.passed_steps |= 1 << index
    _release(enrollment, worker_id)
    return queued


def _run_step(enrollment: Enrollment, definition: FlowDefinition, now: dt.datetime) -> int:
    """Run the step the enrollment is at and move it on; 1 when an email was queued."""
    index = enrollment.step_index
    step = definition.steps[index]
    if isinstance(step, ExitStep):
        _complete(enrollment, reason="exit_step")
        return 0
    if isinstance(step, DelayStep):
        return _wait(enrollment, step, definition, now)
    if isinstance(step, EmailStep):
        # The flow's filters may have stopped matching since entry (left the segment).
        unmet = unmet_filter(enrollment=enrollment, trigger=definition.trigger, now=now)
        if unmet:
            _exit(enrollment, reason=unmet, when=now)
            return 0
        outcome = run_email_step(enrollment=enrollment, step=step, definition=definition, now=now)
        if outcome.retry_at is not None:
            enrollment.due_at = outcome.retry_at
            return 0
        enrollment.step_index = definition.index_of(step.next, after=index)
        return int(outcome.queued)
    if isinstance(step, SplitStep):
        holds = condition_holds(
            condition=step.condition, enrollment=enrollment, definition=definition, now=now
        )
        target = step.then if holds else step.otherwise
    else:
        variant = ab_variant(step=step, enrollment=enrollment, index=index)
        enrollment.ab_variants += f"{index}:{variant};"
        target = step.variants[variant].goto
    enrollment.step_index = definition.index_of(target, after=index)
    return 0


def _wait(
    enrollment: Enrollment, step: DelayStep, definition: FlowDefinition, now: dt.datetime
) -> int:
    assert enrollment.due_at is not None
    until = delay_end(
        step=step,
        previous=enrollment.due_at,
        order=enrollment.trigger_order,
        zone=zone_named(enrollment.customer.time_zone, fallback=enrollment.store.time_zone),
    )
    if until is None:  # counting from a delivery the store has not reported yet
        enrollment.due_at = now + DELIVERY_RECHECK
        return 0
    enrollment.due_at = until
    enrollment.step_index = definition.index_of(step.next, after=enrollment.step_index)
    return 0


def _complete(enrollment: Enrollment, *, reason: str) -> None:
    enrollment.state, enrollment.ended_at = EnrollmentState.COMPLETED, enrollment.due_at
    enrollment.exit_reason, enrollment.due_at = reason, None


def _exit_if_ruled_out(
    enrollment: Enrollment, definition: FlowDefinition, now: dt.datetime
) -> bool:
    """Re-check exit rules before acting: an order may have arrived late."""
    if "unsubscribed" in definition.exit_when and not enrollment.customer.can_receive_marketing:
        _exit(enrollment, reason="unsubscribed", when=now)
        return True
    if "checkout_completed" in definition.exit_when and _checkout_completed(enrollment, now):
        _exit(enrollment, reason="checkout_completed", when=now)
        return True
    orders = Order.objects.filter(customer_id=enrollment.customer_id, placed_at__lte=now).filter(
        Q(placed_at__gt=enrollment.entered_at) | Q(pk=enrollment.trigger_order_id)
    )
    reason, when = exit_reason(enrollment=enrollment, definition=definition, orders=orders)
    if not reason:
        return False
    _exit(enrollment, reason=reason, when=min(when or now, now))
    return True


def _checkout_completed(enrollment: Enrollment, now: dt.datetime) -> bool:
    checkout_id = enrollment.trigger_checkout_id
    return (
        checkout_id is not None
        and Checkout.objects.filter(pk=checkout_id, completed_at__lte=now).exists()
    )


def _exit(enrollment: Enrollment, *, reason: str, when: dt.datetime) -> None:
    enrollment.state, enrollment.exit_reason = EnrollmentState.EXITED, reason
    enrollment.ended_at, enrollment.due_at = when, None


def _release(enrollment: Enrollment, worker_id: str) -> int:
    """Save the enrollment's new state and give up the lease, only if we still hold it."""
    release_row(
        Enrollment,
        pk=enrollment.pk,
        token=worker_id,
        state=enrollment.state,
        step_index=enrollment.step_index,
        passed_steps=enrollment.passed_steps,
        due_at=enrollment.due_at,
        ended_at=enrollment.ended_at,
        exit_reason=enrollment.exit_reason,
        ab_variants=enrollment.ab_variants,
    )
    return 0
