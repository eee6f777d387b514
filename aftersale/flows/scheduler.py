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

from aftersale.coupons.models import Coupon
from aftersale.coupons.selectors import latest_coupon
from aftersale.coupons.services import issue_coupon
from aftersale.flows.definition import DelayStep, EmailStep, ExitStep, FlowDefinition
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.selectors import coupon_program_of, definition_of
from aftersale.flows.services import exit_reason
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.orders.models import LineItem, Order
from aftersale.recommendations.selectors import recommend
from aftersale.stores.models import Store


class LeaseLost(RuntimeError):
    """Another worker took over this enrollment after our lease ran out."""


@dataclass
class PassSummary:
    """What one scheduler pass did."""

    claimed: int = 0
    messages_queued: int = 0
    completed: int = 0
    exited: int = 0


def run_due_enrollments(
    *,
    now: dt.datetime,
    store: Store | None = None,
    limit: int | None = None,
    worker_id: str | None = None,
) -> PassSummary:
    """Claim up to `limit` enrollments due at `now` and run their due steps."""
    worker_id = worker_id or uuid.uuid4().hex
    summary = PassSummary()
    for enrollment in claim_due(
        now=now, store=store, worker_id=worker_id, limit=limit or settings.SCHEDULER_BATCH_SIZE
    ):
        summary.claimed += 1
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
    *, now: dt.datetime, worker_id: str, limit: int, store: Store | None = None
) -> list[Enrollment]:
    """Take a lease on up to `limit` due enrollments nobody else holds and return them."""
    due = Enrollment.objects.filter(state=EnrollmentState.ACTIVE, due_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if store is not None:
        due = due.filter(store=store)
    ids = list(due.order_by("due_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    lease_until = now + dt.timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)
    due.filter(pk__in=ids).update(claimed_by=worker_id, claimed_until=lease_until)
    return list(
        Enrollment.objects.filter(pk__in=ids, claimed_by=worker_id, claimed_until=lease_until)
        .select_related("flow", "customer", "store")
        .order_by("due_at")
    )


def advance(*, enrollment: Enrollment, now: dt.datetime, worker_id: str) -> int:
    """Run every step of `enrollment` that is due at `now`, then release it; return the
    number of emails queued. Call inside a transaction."""
    definition = definition_of(enrollment.version_id)
    if _exit_if_ruled_out(enrollment, definition, now):
        return _release(enrollment, worker_id)
    queued = 0
    assert enrollment.due_at is not None
    while enrollment.due_at is not None and enrollment.due_at <= now:
        if enrollment.step_index >= len(definition.steps):
            enrollment.state, enrollment.ended_at = EnrollmentState.COMPLETED, enrollment.due_at
            enrollment.due_at = None
            break
        step = definition.steps[enrollment.step_index]
        if isinstance(step, DelayStep):
            enrollment.due_at += step.duration
        elif isinstance(step, EmailStep):
            queued += _queue_email(enrollment, step, now)
        elif isinstance(step, ExitStep):
            enrollment.state, enrollment.ended_at = EnrollmentState.COMPLETED, enrollment.due_at
            enrollment.exit_reason, enrollment.due_at = "exit_step", None
        enrollment.step_index += 1
    _release(enrollment, worker_id)
    return queued


def _exit_if_ruled_out(
    enrollment: Enrollment, definition: FlowDefinition, now: dt.datetime
) -> bool:
    """Re-check exit rules before acting: an order may have arrived late."""
    if "unsubscribed" in definition.exit_when and not enrollment.customer.can_receive_marketing:
        enrollment.state, enrollment.exit_reason = EnrollmentState.EXITED, "unsubscribed"
        enrollment.ended_at, enrollment.due_at = now, None
        return True
    orders = Order.objects.filter(customer_id=enrollment.customer_id, placed_at__lte=now).filter(
        Q(placed_at__gt=enrollment.entered_at) | Q(pk=enrollment.trigger_order_id)
    )
    reason, when = exit_reason(enrollment=enrollment, definition=definition, orders=orders)
    if not reason:
        return False
    enrollment.state, enrollment.exit_reason = EnrollmentState.EXITED, reason
    enrollment.ended_at, enrollment.due_at = min(when or now, now), None
    return True


def _queue_email(enrollment: Enrollment, step: EmailStep, now: dt.datetime) -> int:
    """Write the step's email to the outbox, unless a skip rule holds; 1 if queued."""
    if "purchased_since_entry" in step.skip_if and _purchased_since_entry(enrollment, now):
        return 0
    coupon = _coupon_for(enrollment, step, now)
    if "coupon_redeemed" in step.skip_if and coupon is not None and coupon.redeemed_at:
        return 0
    template = EmailTemplate.objects.get(store_id=enrollment.store_id, slug=step.template)
    picks = _offer_picks(enrollment, coupon) if step.coupon == "remind" else None
    if picks is None:
        picks = _recommendations(enrollment, step, now)
    _, created = Message.objects.get_or_create(
        idempotency_key=f"e{enrollment.pk}:v{enrollment.version_id}:s{enrollment.step_index}",
        defaults={
            "store_id": enrollment.store_id,
            "customer": enrollment.customer,
            "template": template,
            "flow_id": enrollment.flow_id,
            "enrollment": enrollment,
            "step_index": enrollment.step_index,
            "to_email": enrollment.customer.email,
            "recommendations": picks,
            "coupon": coupon,
            "queued_at": now,
            "send_after": now,
        },
    )
    return int(created)


def _purchased_since_entry(enrollment: Enrollment, now: dt.datetime) -> bool:
    later = Order.objects.filter(
        customer_id=enrollment.customer_id,
        placed_at__gt=enrollment.entered_at,
        placed_at__lte=now,
    )
    if enrollment.trigger_order_id is not None:
        later = later.exclude(pk=enrollment.trigger_order_id)
    return later.exists()


def _coupon_for(enrollment: Enrollment, step: EmailStep, now: dt.datetime) -> Coupon | None:
    if step.coupon == "none":
        return None
    program = coupon_program_of(flow=enrollment.flow)
    if program is None:
        raise LookupError(f"flow {enrollment.flow.slug} has no coupon program")
    if step.coupon == "remind":
        return latest_coupon(program_id=program.pk, customer_id=enrollment.customer_id)
    return issue_coupon(program=program, customer=enrollment.customer, now=now)


def _recommendations(
    enrollment: Enrollment, step: EmailStep, now: dt.datetime
) -> list[dict[str, object]]:
    if step.recommendations == "none" or enrollment.trigger_order_id is None:
        return []
    basket = list(
        LineItem.objects.filter(order_id=enrollment.trigger_order_id).values_list(
            "product_id", flat=True
        )
    )
    picks = recommend(
        store=enrollment.store,
        customer_id=enrollment.customer_id,
        basket_product_ids=basket,
        now=now,
    )
    return [{"product_id": p.product_id, "reason": p.reason} for p in picks]


def _offer_picks(enrollment: Enrollment, coupon: Coupon | None) -> list[dict[str, object]] | None:
    """A reminder shows the products of the offer it reminds of (None: no such offer)."""
    if coupon is None:
        return None
    return (
        Message.objects.filter(enrollment=enrollment, coupon=coupon)
        .values_list("recommendations", flat=True)
        .first()
    )


def _release(enrollment: Enrollment, worker_id: str) -> int:
    """Save the enrollment's new state and give up the lease, only if we still hold it."""
    updated = Enrollment.objects.filter(pk=enrollment.pk, claimed_by=worker_id).update(
        state=enrollment.state,
        step_index=enrollment.step_index,
        due_at=enrollment.due_at,
        ended_at=enrollment.ended_at,
        exit_reason=enrollment.exit_reason,
        claimed_by="",
        claimed_until=None,
    )
    if updated != 1:
        raise LeaseLost(f"enrollment {enrollment.pk} was taken over by another worker")
    return 0
