"""Platform webhook deliveries: received (verified, checked, stored, answered at once),
then processed by a worker, which claims each one as lib.runs does (a conditional
UPDATE that must hit one row) and applies it through integrations.services. A delivery
that cannot be read or applied ends failed: a dead letter, listed and replayed by
`aftersale deadletters`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum

from aftersale.catalog.services import product_ids
from aftersale.customers.models import Customer
from aftersale.integrations.models import (
    PlatformConnection,
    PlatformFulfillment,
    PlatformRefund,
    PlatformResource,
    WebhookDelivery,
)
from aftersale.integrations.order_lifecycle import receive_cancellation, receive_fulfillment
from aftersale.integrations.platforms.base import (
    DELETED_VERSION,
    PRIVACY_KINDS,
    Change,
    DeliveryKind,
    InvalidPayload,
    InvalidSignature,
    Platform,
)
from aftersale.integrations.platforms.privacy import apply_privacy_request
from aftersale.integrations.platforms.shopify import Shopify, storefront, with_links
from aftersale.integrations.platforms.woocommerce import WooCommerce
from aftersale.integrations.services import (
    receive_checkouts,
    receive_customers,
    receive_orders,
    receive_products,
    receive_refunded_total,
)
from aftersale.lib.runs import RunStatus, claim_next, claim_run, fail_stale_runs, finish_run
from aftersale.orders.models import Order
from aftersale.stores import credentials
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)

PLATFORMS: Mapping[str, Platform] = {"shopify": Shopify(), "woocommerce": WooCommerce()}
STALE_OUTCOME = "older than the version last applied: nothing changed"
DELETED_ORDER_OUTCOME = "the order was deleted in the shop: kept cancelled"
# Applied deliveries are kept this long (Shopify retries for 48 hours at most), then
# deleted, at most PRUNE_BATCH a pass; dead letters stay until replayed.
KEEP_DONE = dt.timedelta(days=30)
PRUNE_BATCH = 1000


class Answer(enum.IntEnum):
    """What the webhook request is answered (its HTTP status)."""

    STORED = 200
    DUPLICATE = 200
    IGNORED = 200
    MALFORMED = 400
    UNSIGNED = 401
    UNKNOWN_STORE = 404


@dataclass(frozen=True, slots=True)
class Received:
    """The outcome of one webhook request: its answer, a detail to say, and the
    delivery stored (None when nothing was)."""

    answer: Answer
    detail: str
    delivery: WebhookDelivery | None = None


def connect_platform(*, store: Store, platform: str, secret: str, now: dt.datetime) -> None:
    """Keep (or replace) `store`'s webhook `secret` for `platform`, encrypted."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: {', '.join(PLATFORMS)}")
    if not secret.strip():
        raise ValueError("the webhook secret is empty")
    PlatformConnection.objects.update_or_create(
        store=store,
        platform=platform,
        defaults={"webhook_secret": credentials.encrypt(secret.strip())},
        create_defaults={"webhook_secret": credentials.encrypt(secret.strip()), "created_at": now},
    )


def receive_webhook(
    *, platform: str, store_slug: str, body: bytes, headers: Mapping[str, str], now: dt.datetime
) -> Received:
    """One webhook request, in the fixed sequence: the store's secret verifies the
    signature of the raw `body` (else UNSIGNED, nothing stored); the headers give the
    Delivery; a topic not handled yet is IGNORED (nothing stored); the payload is read
    (a malformed one is stored failed, a dead letter, and answered MALFORMED with the
    field path); otherwise it is stored queued for a worker. A retry of a stored
    delivery (same event id, else webhook id) is a DUPLICATE and not stored twice."""
    handler = PLATFORMS.get(platform)
    connection = PlatformConnection.objects.filter(
        store__slug=store_slug, platform=platform
    ).first()
    if handler is None or connection is None:
        return Received(Answer.UNKNOWN_STORE, f"no {platform} store {store_slug!r} here")
    if handler.is_ping(body=body, headers=headers):
        return Received(Answer.IGNORED, "ping received")
    try:
        secret = credentials.decrypt(connection.webhook_secret)
        handler.verify(body=body, headers=headers, secret=secret)
    except (InvalidSignature, credentials.UnreadableCredential) as error:
        return Received(Answer.UNSIGNED, str(error))
    try:
        delivery = handler.delivery(body=body, headers=headers)
    except InvalidPayload as error:
        return Received(Answer.MALFORMED, str(error))
    if not handler.handles(delivery.kind):
        return Received(Answer.IGNORED, f"topic {delivery.topic} is not handled")
    assert delivery.kind is not None
    error_text, customer = "", ""
    try:
        customer = handler.read(kind=delivery.kind, body=body).customer_external_id
    except InvalidPayload as error:
        error_text = str(error)
    row = WebhookDelivery(
        store_id=connection.store_id,
        platform=platform,
        topic=delivery.topic,
        kind=delivery.kind,
        dedup_key=delivery.dedup_key,
        event_id=delivery.event_id[:100],
        webhook_id=delivery.webhook_id[:100],
        shop_domain=delivery.shop_domain[:255],
        api_version=delivery.api_version[:20],
        triggered_at=delivery.triggered_at,
        body=body,
        status=RunStatus.FAILED if error_text else RunStatus.QUEUED,
        error=error_text,
        customer_external_id=customer[:320],
        received_at=now,
        finished_at=now if error_text else None,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        if error_text:
            return Received(Answer.MALFORMED, error_text)
        return Received(Answer.DUPLICATE, "already received")
    if error_text:
        return Received(Answer.MALFORMED, error_text, row)
    return Received(Answer.STORED, "queued", row)


def process_deliveries(*, now: Callable[[], dt.datetime], limit: int = 100) -> int:
    """Fail the deliveries whose worker died, delete up to PRUNE_BATCH of those applied
    more than KEEP_DONE ago, then claim and process up to `limit` queued ones, oldest
    first; return how many were processed."""
    fail_stale_runs(WebhookDelivery, now=now())
    prune_deliveries(now=now())
    done = 0
    while done < limit and (delivery := claim_next(WebhookDelivery, now=now())) is not None:
        process_delivery(delivery=delivery, now=now)
        done += 1
    return done


def prune_deliveries(*, now: dt.datetime) -> int:
    """Delete up to PRUNE_BATCH deliveries applied (done) before `now` - KEEP_DONE;
    return how many."""
    old = WebhookDelivery.objects.filter(status=RunStatus.DONE, finished_at__lt=now - KEEP_DONE)
    ids = list(old.order_by("pk").values_list("pk", flat=True)[:PRUNE_BATCH])
    return WebhookDelivery.objects.filter(pk__in=ids).delete()[0] if ids else 0


def process_delivery(*, delivery: WebhookDelivery, now: Callable[[], dt.datetime]) -> None:
    """Apply claimed (running) `delivery` and end it: done (with its outcome: applied,
    or older than what was applied and so nothing changed), or failed with the error, a
    dead letter."""
    handler = PLATFORMS[delivery.platform]
    try:
        change = handler.read(kind=handler.topics[delivery.topic], body=bytes(delivery.body))
        change = _with_product_links(change, delivery=delivery)
        outcome = _apply(store=delivery.store, platform=delivery.platform, change=change, now=now())
    except InvalidPayload as error:
        finish_run(
            WebhookDelivery, pk=delivery.pk, status=RunStatus.FAILED, now=now(), error=str(error)
        )
    except Exception as error:
        logger.exception("webhook delivery %s failed", delivery.pk)
        finish_run(
            WebhookDelivery,
            pk=delivery.pk,
            status=RunStatus.FAILED,
            now=now(),
            error=f"{type(error).__name__}: {error}"[:2000],
        )
    else:
        finish_run(
            WebhookDelivery, pk=delivery.pk, status=RunStatus.DONE, now=now(), outcome=outcome
        )


def _with_product_links(change: Change, *, delivery: WebhookDelivery) -> Change:
    """`change` with its products' pages on the store's storefront (its website, else
    the shop the delivery came from) where only their handles say them (Shopify)."""
    if not change.products:
        return change
    front = storefront(store=delivery.store, shop_domain=delivery.shop_domain)
    return dataclasses.replace(change, products=with_links(change.products, storefront=front))


def _apply(*, store: Store, platform: str, change: Change, now: dt.datetime) -> str:
    """Apply `change` unless a version at least as recent was applied already, all or
    nothing with the record of its version."""
    if change.kind in PRIVACY_KINDS:
        return apply_privacy_request(store=store, change=change, now=now)
    if change.kind == "refund":
        return _apply_refunds(store=store, platform=platform, change=change, now=now)
    if change.kind in ("product", "product_deleted"):
        return _apply_products(store=store, platform=platform, change=change)
    if change.kind == DeliveryKind.ORDER_DELETED:
        return _apply_order_deleted(store=store, platform=platform, change=change, now=now)
    if change.kind == "checkout":
        return _apply_checkouts(store=store, platform=platform, change=change, now=now)
    if change.kind == "fulfillment":
        return _apply_fulfillments(store=store, platform=platform, change=change, now=now)
    with transaction.atomic():
        if not _is_newer(store=store, platform=platform, change=change):
            if change.orders and _was_deleted(store=store, platform=platform, change=change):
                receive_orders(store=store, records=change.orders, now=now)
                receive_cancellation(
                    store=store, external_id=change.external_id, cancelled_at=now, now=now
                )
                return DELETED_ORDER_OUTCOME
            return STALE_OUTCOME
        change = _keep_newer_consent(store=store, platform=platform, change=change)
        if change.customers:
            receive_customers(store=store, records=change.customers, now=now)
        if change.orders:
            result = receive_orders(store=store, records=change.orders, now=now)
            _apply_refunds(store=store, platform=platform, change=change, now=now)
            _apply_fulfillments(store=store, platform=platform, change=change, now=now)
            return f"applied: {len(result.created)} created, {len(result.updated)} updated"
    return f"applied: {len(change.customers)} customer(s)"


def _apply_refunds(*, store: Store, platform: str, change: Change, now: dt.datetime) -> str:
    """Keep the refunds `change` tells of (each once, by its id) and raise the refunded
    total of each order named to the sum of its refunds kept. An order not received yet
    gets it when it arrives (its delivery applies the refunds kept)."""
    orders = {r.order_external_id for r in change.refunds} | {o.external_id for o in change.orders}
    with transaction.atomic():
        PlatformRefund.objects.bulk_create(
            [
                PlatformRefund(
                    store=store,
                    platform=platform,
                    refund_id=r.refund_id,
                    order_external_id=r.order_external_id,
                    amount=r.amount,
                    created_at=r.created_at,
                )
                for r in change.refunds
            ],
            ignore_conflicts=True,
        )
        totals = dict(
            PlatformRefund.objects.filter(
                store=store, platform=platform, order_external_id__in=orders
            )
            .values("order_external_id")
            .annotate(total=Sum("amount"))
            .values_list("order_external_id", "total")
        )
        waiting = []
        for external_id in sorted(orders):
            if not Order.objects.filter(store=store, external_id=external_id).exists():
                waiting.append(external_id)
            elif external_id in totals:
                receive_refunded_total(
                    store=store,
                    external_id=external_id,
                    refunded_total=totals[external_id],
                    now=now,
                )
    if waiting:
        return f"refund kept: order {', '.join(waiting)} not received yet, applied when it is"
    return "refund applied"


def _apply_products(*, store: Store, platform: str, change: Change) -> str:
    """Apply a product's newer version to the catalog. A deletion (the newest version
    there is) leaves the product out of stock, so it is never recommended again; a
    product never seen is not created by its deletion."""
    with transaction.atomic():
        if not _is_newer(
            store=store,
            platform=platform,
            change=dataclasses.replace(change, kind="product"),
        ):
            return STALE_OUTCOME
        records = change.products
        if change.kind == "product_deleted":
            known = product_ids(store=store, external_ids=[r.external_id for r in records])
            records = tuple(r for r in records if r.external_id in known)
        receive_products(store=store, records=records)
    return f"applied: {len(records)} product(s)"


def apply_catalog_versions(*, store: Store, platform: str, changes: Sequence[Change]) -> int:
    """Apply the product `changes` of a catalog read (a page of the catalog sync) as
    their deliveries would be, in one transaction: each product whose version is newer
    than the one applied (by a webhook or an earlier sync) is written and its version
    recorded, the others are left as they are; return how many were written."""
    with transaction.atomic():
        fresh = [c for c in changes if _is_newer(store=store, platform=platform, change=c)]
        records = [record for change in fresh for record in change.products]
        if records:
            receive_products(store=store, records=records)
    return len(records)


def _apply_order_deleted(*, store: Store, platform: str, change: Change, now: dt.datetime) -> str:
    """An order deleted in the shop: the newest version of it there is, and the order,
    when stored, cancelled now. A version arriving after it still fills in what the
    order lacks and the order stays cancelled (one not received yet is stored
    cancelled), so the outcome does not depend on the order deliveries arrive in."""
    with transaction.atomic():
        _is_newer(store=store, platform=platform, change=dataclasses.replace(change, kind="order"))
        cancelled = receive_cancellation(
            store=store, external_id=change.external_id, cancelled_at=now, now=now
        )
    return "order deleted: cancelled" if cancelled else "order deleted: nothing to cancel"


def _apply_checkouts(*, store: Store, platform: str, change: Change, now: dt.datetime) -> str:
    """Apply a checkout's newer version: stored for checkout recovery (the worker's
    periodic pass starts the flows of abandoned ones; a completed one ends them)."""
    with transaction.atomic():
        if not _is_newer(store=store, platform=platform, change=change):
            return STALE_OUTCOME
        if not change.checkouts:
            return "checkout without an email: nothing to recover"
        change = _keep_newer_consent(store=store, platform=platform, change=change)
        result = receive_checkouts(store=store, records=change.checkouts, now=now)
    return f"applied: {len(result.created)} created, {len(result.updated)} updated"


def _apply_fulfillments(*, store: Store, platform: str, change: Change, now: dt.datetime) -> str:
    """Keep the fulfillments `change` tells of (by id; a later version may add when it
    was delivered) and fill in each named order's fulfilled and delivered moments from
    the fulfillments kept. An order not received yet gets them when it arrives (its
    delivery applies the fulfillments kept)."""
    orders = {f.order_external_id for f in change.fulfillments} | {
        o.external_id for o in change.orders
    }
    with transaction.atomic():
        for f in change.fulfillments:
            row, created = PlatformFulfillment.objects.get_or_create(
                store=store,
                platform=platform,
                fulfillment_id=f.fulfillment_id,
                defaults={
                    "order_external_id": f.order_external_id,
                    "fulfilled_at": f.fulfilled_at,
                    "delivered_at": f.delivered_at,
                },
            )
            if not created and row.delivered_at is None and f.delivered_at is not None:
                row.delivered_at = f.delivered_at
                row.save(update_fields=["delivered_at"])
        waiting = []
        kept = PlatformFulfillment.objects.filter(
            store=store, platform=platform, order_external_id__in=orders
        ).order_by("fulfilled_at", "fulfillment_id")
        by_order: dict[str, list[PlatformFulfillment]] = {}
        for row in kept:
            by_order.setdefault(row.order_external_id, []).append(row)
        for external_id in sorted(by_order):
            if not Order.objects.filter(store=store, external_id=external_id).exists():
                waiting.append(external_id)
                continue
            rows = by_order[external_id]
            delivered = [r.delivered_at for r in rows if r.delivered_at is not None]
            receive_fulfillment(
                store=store,
                external_id=external_id,
                fulfilled_at=rows[0].fulfilled_at,
                delivered_at=min(delivered) if delivered else None,
                now=now,
            )
    if waiting:
        return f"fulfillment kept: order {', '.join(waiting)} not received yet, applied when it is"
    return "fulfillment applied"


def _was_deleted(*, store: Store, platform: str, change: Change) -> bool:
    """Whether the shop deleted `change`'s resource (its recorded version is the
    deletion's)."""
    return PlatformResource.objects.filter(
        store=store,
        platform=platform,
        kind=change.kind,
        external_id=change.external_id,
        updated_at=DELETED_VERSION,
    ).exists()


def _is_newer(*, store: Store, platform: str, change: Change) -> bool:
    """Record `change`'s version as the last applied one if it is newer than the one
    recorded; False when it is not."""
    return _record_version(
        store=store,
        platform=platform,
        kind=change.kind,
        external_id=change.external_id,
        updated_at=change.updated_at,
    )


def _record_version(
    *, store: Store, platform: str, kind: str, external_id: str, updated_at: dt.datetime
) -> bool:
    """Record `updated_at` as the last applied version of the resource if it is newer
    than the one recorded (a conditional UPDATE that must hit one row)."""
    key = {"store": store, "platform": platform, "kind": kind, "external_id": external_id}
    row, created = PlatformResource.objects.get_or_create(
        **key, defaults={"updated_at": updated_at}
    )
    if created:
        return True
    newer = PlatformResource.objects.filter(pk=row.pk, updated_at__lt=updated_at)
    return newer.update(updated_at=updated_at) == 1


def _keep_newer_consent(*, store: Store, platform: str, change: Change) -> Change:
    """`change` with the customer its order (or checkout) embeds (name, email, consent)
    replaced by the one stored when a newer version of that customer was applied
    already: an old order or checkout never gives back a consent the customer withdrew
    since (nor the reverse)."""
    if not (change.orders or change.checkouts) or change.customer_updated_at is None:
        return change
    record = change.orders[0] if change.orders else change.checkouts[0]
    if _record_version(
        store=store,
        platform=platform,
        kind="customer",
        external_id=record.customer.external_id,
        updated_at=change.customer_updated_at,
    ):
        return change
    stored = Customer.objects.filter(store=store, external_id=record.customer.external_id).first()
    if stored is None:
        return change
    customer = dataclasses.replace(
        record.customer,
        email=stored.email,
        first_name=stored.first_name,
        last_name=stored.last_name,
        accepts_marketing=stored.accepts_marketing,
    )
    if change.orders:
        return dataclasses.replace(
            change, orders=(dataclasses.replace(change.orders[0], customer=customer),)
        )
    return dataclasses.replace(
        change, checkouts=(dataclasses.replace(change.checkouts[0], customer=customer),)
    )


def dead_letters(*, store: Store | None = None, limit: int = 50) -> QuerySet[WebhookDelivery]:
    """The latest `limit` failed deliveries (of `store`, or of every store), newest first."""
    failed = WebhookDelivery.objects.filter(status=RunStatus.FAILED)
    if store is not None:
        failed = failed.filter(store=store)
    return failed.order_by("-received_at", "-pk")[:limit]


class NotADeadLetter(ValueError):
    """A replay asked of a delivery that does not exist or has not failed."""


def replay_delivery(*, delivery_id: int, now: Callable[[], dt.datetime]) -> WebhookDelivery:
    """Process failed delivery `delivery_id` again, now (its raw body as received):
    queued again only if it is still failed (a conditional UPDATE), then claimed and
    processed as the worker does. NotADeadLetter for any other delivery."""
    requeued = WebhookDelivery.objects.filter(pk=delivery_id, status=RunStatus.FAILED).update(
        status=RunStatus.QUEUED, error="", outcome="", started_at=None, finished_at=None
    )
    if requeued != 1 or not claim_run(WebhookDelivery, pk=delivery_id, now=now()):
        raise NotADeadLetter(f"delivery {delivery_id} is not a dead letter")
    delivery = WebhookDelivery.objects.select_related("store").get(pk=delivery_id)
    process_delivery(delivery=delivery, now=now)
    delivery.refresh_from_db()
    return delivery
