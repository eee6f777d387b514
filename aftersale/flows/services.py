"""Creating flows, and what arriving orders do to them: start journeys, end them,
redeem coupons."""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from django.db import transaction

from aftersale.coupons.services import record_redemptions, save_program
from aftersale.flows.definition import FlowDefinition, parse_definition
from aftersale.flows.models import Enrollment, EnrollmentState, Flow, FlowStatus, FlowVersion
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.triggers import NOT_PURCHASES, triggering_orders
from aftersale.orders.models import Order
from aftersale.stores.models import Store

LIBRARY_DIR = Path(__file__).parent / "library"


def install_flow(
    *,
    store: Store,
    slug: str,
    definition: object,
    now: dt.datetime,
    status: FlowStatus = FlowStatus.LIVE,
) -> Flow:
    """Create flow `slug` from `definition` (validated; raises InvalidFlowDefinition), or
    give an existing one a new version, which only new enrollments use."""
    parsed = parse_definition(definition)
    with transaction.atomic():
        flow, _ = Flow.objects.get_or_create(
            store=store,
            slug=slug,
            defaults={"name": parsed.name, "status": status, "created_at": now},
        )
        latest = flow.versions.order_by("-number").values_list("number", flat=True).first() or 0
        FlowVersion.objects.create(
            store=store,
            flow=flow,
            number=latest + 1,
            definition=parsed.model_dump(mode="json", by_alias=True),
            created_at=now,
        )
        _save_coupon_program(store, flow, parsed)
        Flow.objects.filter(pk=flow.pk).update(name=parsed.name, status=status)
        flow.refresh_from_db()
    return flow


def install_library_flow(
    *, store: Store, slug: str, now: dt.datetime, status: FlowStatus = FlowStatus.LIVE
) -> Flow:
    """Install the ready-made flow `slug` shipped in flows/library/."""
    path = LIBRARY_DIR / f"{slug}.json"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in LIBRARY_DIR.glob("*.json")))
        raise LookupError(f"no ready flow {slug!r}; available: {available}")
    return install_flow(
        store=store, slug=slug, definition=json.loads(path.read_text()), now=now, status=status
    )


def _save_coupon_program(store: Store, flow: Flow, definition: FlowDefinition) -> None:
    if definition.coupon is None:
        return
    save_program(store=store, slug=flow.slug, **definition.coupon.model_dump())


def process_orders(
    *,
    store: Store,
    order_ids: Sequence[int],
    now: dt.datetime,
    flows: Iterable[Flow] | None = None,
) -> list[Enrollment]:
    """React to orders that arrived or changed: mark coupons they redeem, end the journeys
    they exit, and start the flows they trigger (the store's live flows, or `flows`).
    Returns the enrollments started."""
    # Sorted here, not in SQL: an ORDER BY placed_at tempts SQLite into walking the
    # (store, placed_at) index over the whole history instead of looking up the ids.
    orders = sorted(
        Order.objects.filter(store=store, pk__in=order_ids).select_related("customer"),
        key=lambda order: (order.placed_at, order.pk),
    )
    if not orders:
        return []
    record_redemptions(store=store, orders=orders)
    exit_enrollments(store=store, orders=orders, now=now)
    candidates = (
        list(flows)
        if flows is not None
        else list(Flow.objects.filter(store=store, status=FlowStatus.LIVE))
    )
    return [e for flow in candidates for e in _enroll(flow, orders, now)]


def exit_enrollments(*, store: Store, orders: Sequence[Order], now: dt.datetime) -> int:
    """End active journeys whose exit rules these orders meet (purchased again, refunded);
    return how many ended."""
    by_customer: dict[int, list[Order]] = {}
    for order in orders:
        by_customer.setdefault(order.customer_id, []).append(order)
    active = Enrollment.objects.filter(
        store=store, state=EnrollmentState.ACTIVE, customer_id__in=by_customer
    )
    ended = 0
    for enrollment in active:
        reason, when = exit_reason(
            enrollment=enrollment,
            definition=definition_of(enrollment.version_id),
            orders=by_customer[enrollment.customer_id],
        )
        if reason:
            ended += end_enrollment(
                enrollment=enrollment,
                state=EnrollmentState.EXITED,
                reason=reason,
                when=min(when or now, now),
            )
    return ended


def exit_reason(
    *, enrollment: Enrollment, definition: FlowDefinition, orders: Iterable[Order]
) -> tuple[str, dt.datetime | None]:
    """Why `orders` end `enrollment` under its flow's exit rules, and when ("" if not)."""
    for order in orders:
        if order.pk == enrollment.trigger_order_id:
            if "refunded" in definition.exit_when and order.status in NOT_PURCHASES:
                return "refunded", order.refunded_at or order.cancelled_at
            continue
        if (
            "purchased_again" in definition.exit_when
            and order.status not in NOT_PURCHASES
            and order.placed_at > enrollment.entered_at
        ):
            return "purchased_again", order.placed_at
    return "", None


def end_enrollment(
    *, enrollment: Enrollment, state: EnrollmentState, reason: str, when: dt.datetime
) -> int:
    """Move an active enrollment to `state`; 0 when it had already ended (no double exit)."""
    updated = Enrollment.objects.filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE).update(
        state=state, exit_reason=reason, ended_at=when, due_at=None
    )
    if updated:
        enrollment.state, enrollment.exit_reason, enrollment.ended_at = state, reason, when
    return updated


def _enroll(flow: Flow, orders: Sequence[Order], now: dt.datetime) -> list[Enrollment]:
    version = latest_version(flow=flow)
    definition = definition_of(version.pk)
    enrollments = [
        Enrollment(
            store_id=flow.store_id,
            flow=flow,
            version=version,
            customer_id=order.customer_id,
            trigger_order=order,
            entered_at=at,
            due_at=at,
        )
        for order, at in triggering_orders(flow=flow, definition=definition, orders=orders, now=now)
    ]
    return Enrollment.objects.bulk_create(enrollments)
