"""Writing the outbox: queuing an email (once per key), claiming due emails for a
sender, what email services report about handed-over emails, and the suppression list.
The only writer of Message and Suppression rows, with outbox.recording."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from aftersale.coupons.models import Coupon
from aftersale.customers.models import Customer
from aftersale.lib.claims import claim_rows
from aftersale.lib.logs import ids
from aftersale.messaging.models import (
    EmailTemplate,
    Engagement,
    Message,
    MessageStatus,
    SkipReason,
    Suppression,
    SuppressionReason,
)
from aftersale.messaging.outbox.selectors import due_messages, for_rendering, suppression_key
from aftersale.messaging.outbox.signals import message_bounced
from aftersale.messaging.outbox.status import statuses_before
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)


def queue_message(
    *,
    idempotency_key: str,
    customer: Customer,
    template_slug: str,
    now: dt.datetime,
    send_after: dt.datetime | None = None,
    flow_id: int | None = None,
    enrollment_id: int | None = None,
    step_index: int | None = None,
    order_id: int | None = None,
    checkout_id: int | None = None,
    campaign: str = "",
    coupon: Coupon | None = None,
    recommendations: list[dict[str, object]] | None = None,
    skipped_because: str = "",
    skip_reason: SkipReason | None = None,
) -> bool:
    """Put one email to `customer` in the outbox, due at `send_after` (default `now`),
    or with `skip_reason` record that it was decided against (status skipped), with
    `skipped_because` as the details; QUIET_HOURS_MOVED is no skip: the email is queued
    and the reason records that quiet hours moved it. The key makes a retried decision
    a no-op: True when the key was new (on a race with another writer of the same key,
    whose row the INSERT then leaves as it is, both may say True). Raises
    EmailTemplate.DoesNotExist when the store has no template `template_slug`."""
    template = EmailTemplate.objects.get(store_id=customer.store_id, slug=template_slug)
    email = EmailToQueue(
        idempotency_key=idempotency_key,
        customer_id=customer.pk,
        to_email=customer.email,
        send_after=send_after or now,
        flow_id=flow_id,
        enrollment_id=enrollment_id,
        step_index=step_index,
        order_id=order_id,
        checkout_id=checkout_id,
        campaign=campaign,
        recommendations=recommendations or [],
        skipped_because=skipped_because,
        skip_reason=skip_reason,
        coupon_id=coupon.pk if coupon is not None else None,
    )
    # One way to build an outbox row: the batch one's, for a batch of one.
    return (
        queue_messages(store_id=customer.store_id, template=template, now=now, emails=[email]) == 1
    )


@dataclass(frozen=True)
class EmailToQueue:
    """One email of a batch for queue_messages: what queue_message's arguments say of
    it, with the customer given by id and address (the batch's rows carry them) and the
    coupon by id."""

    idempotency_key: str
    customer_id: int
    to_email: str
    send_after: dt.datetime
    flow_id: int | None = None
    enrollment_id: int | None = None
    step_index: int | None = None
    order_id: int | None = None
    checkout_id: int | None = None
    campaign: str = ""
    recommendations: list[dict[str, object]] = field(default_factory=list)
    skipped_because: str = ""
    skip_reason: SkipReason | None = None
    coupon_id: int | None = None


def queue_messages(
    *, store_id: int, template: EmailTemplate, now: dt.datetime, emails: Sequence[EmailToQueue]
) -> int:
    """Put many emails of `store_id` made from `template` in the outbox at once, each as
    queue_message would (queued, moved by quiet hours, or recorded as skipped with its
    reason): one look-up of the keys already there and one INSERT that ignores keys
    taken meanwhile, so a retried batch adds nothing twice. Call inside the transaction
    that records the decisions. Returns how many of the keys were new at the look-up
    (a key another writer adds in between counts, though its row is that writer's)."""
    if not emails:
        return 0
    keys = [email.idempotency_key for email in emails]
    taken = set(
        Message.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    rows = [
        _message_row(store_id, template, now, email)
        for email in emails
        if email.idempotency_key not in taken
    ]
    Message.objects.bulk_create(rows, ignore_conflicts=True)
    return sum(row.status == MessageStatus.QUEUED for row in rows)


def _message_row(
    store_id: int, template: EmailTemplate, now: dt.datetime, email: EmailToQueue
) -> Message:
    skip_reason = email.skip_reason
    skipped = bool(email.skipped_because) or (
        skip_reason is not None and skip_reason != SkipReason.QUIET_HOURS_MOVED
    )
    return Message(
        idempotency_key=email.idempotency_key,
        store_id=store_id,
        customer_id=email.customer_id,
        template=template,
        flow_id=email.flow_id,
        enrollment_id=email.enrollment_id,
        step_index=email.step_index,
        order_id=email.order_id,
        checkout_id=email.checkout_id,
        campaign=email.campaign,
        to_email=email.to_email,
        queued_at=now,
        send_after=email.send_after,
        recommendations=email.recommendations,
        coupon_id=email.coupon_id,
        status=MessageStatus.SKIPPED if skipped else MessageStatus.QUEUED,
        error=email.skipped_because,
        skip_reason=skip_reason or "",
    )


def report_status(*, message: Message, status: MessageStatus, **fields: Any) -> str:
    """Move a handed-over `message` to `status` (with `fields`, e.g. delivered_at) as an
    email service reported it, if the status table allows the move from where it is now.
    The check is part of the UPDATE, so a report racing the sender or another report
    cannot skip it. Returns what happened, for the caller's log: the new status, or why
    nothing changed."""
    allowed = statuses_before(status, reported=True)
    if Message.objects.filter(pk=message.pk, status__in=allowed).update(status=status, **fields):
        return status.value
    current = Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()
    if current == status:
        return f"already {status.value}"
    logger.info(
        "message %s is %s: the reported %s is refused",
        message.pk,
        current,
        status.value,
        extra=ids(message_id=message.pk),
    )
    return f"refused: {current} -> {status.value}"


def record_engagement(*, message_id: int, engagement: Engagement) -> bool:
    """Mark that `message`'s recipient did `engagement` (read, clicked, replied or
    unsubscribed). Only the first time changes the row: the condition is part of the
    UPDATE, so two requests at once set it once. True when this call set it."""
    bit = int(engagement)
    return bool(
        Message.objects.alias(done=F("engagement").bitand(bit))
        .filter(pk=message_id, done=0)
        .update(engagement=F("engagement").bitor(bit))
    )


def record_hard_bounce(*, message: Message, now: dt.datetime) -> None:
    """`message`'s address is dead: suppress it for every flow and every email of the
    store, and announce the bounce (message_bounced) to the apps that keep timelines."""
    with transaction.atomic():
        suppress(
            store_id=message.store_id,
            email=message.to_email,
            reason=SuppressionReason.HARD_BOUNCE,
            now=now,
        )
        message_bounced.send(sender=Message, message=message, at=now)


def suppress(*, store_id: int, email: str, reason: SuppressionReason, now: dt.datetime) -> None:
    """Put `email` on `store`'s suppression list. An address already there keeps its
    first reason, except that a hard bounce replaces a softer one: a dead address must
    not get even transactional email."""
    address = suppression_key(email)
    Suppression.objects.bulk_create(
        [Suppression(store_id=store_id, email=address, reason=reason, created_at=now)],
        ignore_conflicts=True,  # two requests at once: the first row wins
    )
    if reason == SuppressionReason.HARD_BOUNCE:
        Suppression.objects.filter(store_id=store_id, email=address).update(reason=reason)


def default_worker_id() -> str:
    """This process's name in claims: host and pid."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}"


def claim_due_messages(
    *,
    now: dt.datetime,
    limit: int = 500,
    store: Store | None = None,
    worker_id: str | None = None,
    lease: dt.timedelta | None = None,
) -> list[Message]:
    """Claim up to `limit` due queued messages for this caller until now + `lease` and
    return them with their relations loaded. The claim is made under a claim token unique
    to this call, so two workers claiming at the same moment never get the same message:
    PostgreSQL picks the rows with FOR UPDATE SKIP LOCKED, other databases (SQLite) with
    a conditional UPDATE that only touches messages still unclaimed."""
    lease = lease or dt.timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)
    claim = f"{(worker_id or default_worker_id())[:48]}:{secrets.token_hex(6)}"
    due = due_messages(now=now, store=store)
    claimed = claim_rows(due, limit=limit, token=claim, until=now + lease)
    return for_rendering(claimed.order_by("send_after", "id"))


def erase_recipient(*, store: Store, customer: Customer) -> None:
    """Remove the customer's address and what was written to them from their emails
    (address, subject, errors, link destinations) and the address from the store's
    suppression list; each email's status and times stay, as the reports count them.
    Call before the customer's own row is erased: it reads the address from it."""
    Message.objects.filter(store=store, customer=customer).update(
        to_email="", subject="", error="", tracked_urls=[]
    )
    if customer.email:
        Suppression.objects.filter(store=store, email=suppression_key(customer.email)).delete()
