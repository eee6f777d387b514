"""Running one email step: skip rules, the marketing guards (smart sending, quiet hours),
the coupon, the product picks, and the outbox row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aftersale.coupons.models import Coupon
from aftersale.coupons.selectors import latest_coupon_of
from aftersale.coupons.services import issue_coupon
from aftersale.flows.conditions import purchased_since_entry
from aftersale.flows.definition import EmailStep, FlowDefinition, Guards, QuietHours
from aftersale.flows.models import Enrollment
from aftersale.flows.selectors import coupon_program_ids, coupon_program_of
from aftersale.flows.timing import outside_quiet_hours, zone_named
from aftersale.messaging.models import SkipReason
from aftersale.messaging.outbox.selectors import last_marketing_email_at, recommendations_offered
from aftersale.messaging.outbox.services import queue_message
from aftersale.orders.models import LineItem
from aftersale.recommendations.selectors import recommend
from aftersale.stores.models import Store


@dataclass(frozen=True)
class EmailOutcome:
    """What an email step did: queued a message, skipped it, or must wait until
    `retry_at` (smart sending set to delay)."""

    queued: bool = False
    retry_at: dt.datetime | None = None


def run_email_step(
    *, enrollment: Enrollment, step: EmailStep, definition: FlowDefinition, now: dt.datetime
) -> EmailOutcome:
    """Queue the step's email in the outbox, unless a skip rule or a guard says not now.
    Every decision not to send leaves a skipped outbox row with its reason (messaging's
    SkipReason) and details; an email quiet hours move is queued for their end with the
    reason QUIET_HOURS_MOVED. Smart sending delays instead of skipping where
    `smart_sending_action` says so (an email with a coupon, by default): the step is
    retried once the window has passed and nothing is written meanwhile. A holdout
    journey gets no marketing email (no outbox row, no coupon): only transactional steps
    reach it."""
    if enrollment.holdout and not step.transactional:
        return EmailOutcome()
    if "purchased_since_entry" in step.skip_if and purchased_since_entry(
        enrollment=enrollment, now=now
    ):
        return _skipped(
            enrollment, step, now, SkipReason.FILTER_NO_LONGER_MET, "skip_if purchased_since_entry"
        )
    if not enrollment.customer.email:
        return _skipped(enrollment, step, now, SkipReason.MISSING_ADDRESS, "no email address")
    guards = store_guards(definition, enrollment.store)
    if not step.transactional:
        last = _last_marketing_email(enrollment, guards, now)
        if last is not None and smart_sending_action(step, guards) == "delay":
            return EmailOutcome(retry_at=last + dt.timedelta(hours=guards.smart_sending_hours))
        if last is not None:
            detail = f"smart sending: got an email at {last.isoformat()}"
            return _skipped(enrollment, step, now, SkipReason.SMART_SENDING, detail)
    coupon = _coupon_for(enrollment, step, definition, now)
    if (
        "coupon_redeemed" in step.skip_if
        and coupon is not None
        and coupon.redeemed_at
        and not coupon.redeemed_by_other
    ):
        return _skipped(
            enrollment, step, now, SkipReason.FILTER_NO_LONGER_MET, "skip_if coupon_redeemed"
        )
    send_after = (
        now
        if step.transactional
        else outside_quiet_hours(
            moment=now,
            quiet=guards.quiet_hours,
            zone=zone_named(enrollment.customer.time_zone, fallback=enrollment.store.time_zone),
        )
    )
    picks = _offer_picks(enrollment, coupon) if step.coupon == "remind" else None
    if picks is None:
        picks = recommendations_for(enrollment=enrollment, step=step, now=now)
    if "no_recommendations" in step.skip_if and not picks:
        return _skipped(
            enrollment, step, now, SkipReason.FILTER_NO_LONGER_MET, "skip_if no_recommendations"
        )
    moved = SkipReason.QUIET_HOURS_MOVED if send_after > now else None
    return EmailOutcome(
        queued=_write(
            enrollment,
            step,
            now,
            coupon=coupon,
            recommendations=picks,
            send_after=send_after,
            skip_reason=moved,
        )
    )


def smart_sending_action(step: EmailStep, guards: Guards) -> str:
    """What smart sending does to `step`'s email when the customer got another marketing
    email within the window: "delay" (retry once the window has passed) or "skip". The
    step's own `smart_sending` decides when set; else an email with a coupon (issued or
    reminded) follows `guards.smart_sending_coupons` (delay, unless the merchant says
    skip: a coupon nobody receives is an offer lost), and any other email
    `guards.smart_sending`."""
    if step.smart_sending is not None:
        return step.smart_sending
    if step.coupon != "none":
        return guards.smart_sending_coupons
    return guards.smart_sending


def _skipped(
    enrollment: Enrollment, step: EmailStep, now: dt.datetime, reason: SkipReason, detail: str
) -> EmailOutcome:
    """The step's email recorded as decided against, with why."""
    _write(enrollment, step, now, skip_reason=reason, skipped_because=detail)
    return EmailOutcome()


def message_key(enrollment: Enrollment, *, step_index: int) -> str:
    """The outbox key of `enrollment`'s email at `step_index` of its version: the same
    on every path that queues it, so a step run twice (or by both paths) queues one email."""
    return f"e{enrollment.pk}:v{enrollment.version_id}:s{step_index}"


def _write(enrollment: Enrollment, step: EmailStep, now: dt.datetime, **fields: Any) -> bool:
    """The outbox row; its key (enrollment, version, step) makes a retried step a no-op."""
    return queue_message(
        idempotency_key=message_key(enrollment, step_index=enrollment.step_index),
        customer=enrollment.customer,
        template_slug=step.template,
        now=now,
        flow_id=enrollment.flow_id,
        enrollment_id=enrollment.pk,
        step_index=enrollment.step_index,
        order_id=enrollment.trigger_order_id,
        checkout_id=enrollment.trigger_checkout_id,
        campaign=enrollment.flow.slug,
        **fields,
    )


def store_guards(definition: FlowDefinition, store: Store) -> Guards:
    """The flow's guards, with `store`'s default quiet hours and smart-sending window
    wherever the definition sets none of its own."""
    quiet = None
    if store.quiet_hours_start is not None and store.quiet_hours_end is not None:
        quiet = QuietHours(start=store.quiet_hours_start, end=store.quiet_hours_end)
    return definition.guards.with_defaults(
        smart_sending_hours=store.smart_sending_hours, quiet_hours=quiet
    )


def _last_marketing_email(
    enrollment: Enrollment, guards: Guards, now: dt.datetime
) -> dt.datetime | None:
    """When the customer was last sent (or queued) a marketing email within the smart
    sending window, across every flow."""
    hours = guards.smart_sending_hours
    if hours == 0:
        return None
    return last_marketing_email_at(
        customer_id=enrollment.customer_id, since=now - dt.timedelta(hours=hours), until=now
    )


def _coupon_for(
    enrollment: Enrollment, step: EmailStep, definition: FlowDefinition, now: dt.datetime
) -> Coupon | None:
    if step.coupon == "none":
        return None
    if step.coupon == "remind":
        # The latest code this flow gave the customer, from its own or a step's program.
        programs = coupon_program_ids(flow=enrollment.flow, definition=definition)
        return latest_coupon_of(program_ids=programs, customer_id=enrollment.customer_id)
    program = coupon_program_of(flow=enrollment.flow, step_id=step.id if step.offer else "")
    if program is None:
        raise LookupError(f"flow {enrollment.flow.slug} has no coupon program")
    return issue_coupon(program=program, customer=enrollment.customer, now=now)


def recommendations_for(
    *, enrollment: Enrollment, step: EmailStep, now: dt.datetime
) -> list[dict[str, object]]:
    """The products `step`'s email shows the journey's customer at `now` (its strategy's
    picks for the trigger order's basket, as JSON); none when the step shows none."""
    if step.recommendations == "none":
        return []
    # Without a trigger order (a timed or posted event) the customer's history speaks.
    basket = list(
        LineItem.objects.filter(order_id=enrollment.trigger_order_id).values_list(
            "product_id", flat=True
        )
        if enrollment.trigger_order_id is not None
        else []
    )
    picks = recommend(
        store=enrollment.store,
        customer_id=enrollment.customer_id,
        basket_product_ids=basket,
        now=now,
        strategy=step.recommendations,
    )
    return [p.as_json() for p in picks]


def _offer_picks(enrollment: Enrollment, coupon: Coupon | None) -> list[dict[str, object]] | None:
    """A reminder shows the products of the offer it reminds of (None: no such offer)."""
    if coupon is None:
        return None
    return recommendations_offered(enrollment_id=enrollment.pk, coupon_id=coupon.pk)
