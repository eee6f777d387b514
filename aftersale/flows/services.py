"""Creating flows, and what arriving orders, events, checkouts and the passing of time do
to them: start journeys, end them, redeem coupons."""

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q

from aftersale.coupons.models import Coupon
from aftersale.coupons.services import record_redemptions, save_program
from aftersale.flows.covariates import covariates_at_entry
from aftersale.flows.definition import (
    POSTED_EVENTS,
    TIMED_EVENTS,
    FlowDefinition,
    parse_definition,
    stored_definition,
)
from aftersale.flows.holdout import in_holdout
from aftersale.flows.models import Enrollment, EnrollmentState, Flow, FlowStatus, FlowVersion
from aftersale.flows.occasions import event_entries, timed_entries
from aftersale.flows.selectors import (
    LIBRARY_DIR,
    coupon_program_slug,
    definition_of,
    free_flow_slug,
    latest_version,
    library_definition,
    library_flow_slugs,
    live_flows,
)
from aftersale.flows.timing import every_email_overdue, zone_named
from aftersale.flows.triggers import Entry, admit, triggering_orders
from aftersale.lib import bulk
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import NOT_PURCHASES, Checkout, Order
from aftersale.stores.models import Store
from aftersale.tracking.models import Event


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
            definition=stored_definition(parsed),
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


class FlowExists(ValueError):
    """A new flow was asked for under a slug the store already uses."""


def create_flow(*, store: Store, slug: str, definition: object, now: dt.datetime) -> Flow:
    """Create the store's flow `slug` as a draft from `definition` (validated: raises
    InvalidFlowDefinition); FlowExists when the store has a flow `slug` already."""
    with transaction.atomic():
        if Flow.objects.select_for_update().filter(store=store, slug=slug).exists():
            raise FlowExists(f"the store has a flow {slug!r} already")
        return install_flow(
            store=store, slug=slug, definition=definition, now=now, status=FlowStatus.DRAFT
        )


class StaleVersion(ValueError):
    """A revision was made from a version that is no longer the flow's latest: someone
    saved the flow meanwhile (another tab, another login, the API)."""

    def __init__(self, *, started_from: int, latest: int) -> None:
        self.started_from, self.latest = started_from, latest
        super().__init__(
            f"the flow was saved as version {latest} after you started editing version "
            f"{started_from}"
        )


def revise_flow(
    *, flow: Flow, definition: object, now: dt.datetime, based_on: int | None = None
) -> Flow:
    """Give `flow` a new version from `definition` (validated: raises
    InvalidFlowDefinition), keeping its status: new journeys start on the new version,
    journeys in flight finish on theirs. With `based_on` (the version number the editor
    started from), a flow whose latest version is another one is left alone and
    StaleVersion raised, so that a save never silently overwrites a newer one."""
    with transaction.atomic():
        # The lock makes two saves based on the same version take turns: the second sees
        # the first's version and is refused.
        Flow.objects.select_for_update().filter(pk=flow.pk).first()
        if based_on is not None:
            latest = latest_version(flow=flow).number
            if latest != based_on:
                raise StaleVersion(started_from=based_on, latest=latest)
        flow.refresh_from_db(fields=["status"])
        return install_flow(
            store=flow.store,
            slug=flow.slug,
            definition=definition,
            now=now,
            status=FlowStatus(flow.status),
        )


def set_up_library_flow(*, store: Store, ready: str, now: dt.datetime) -> Flow:
    """Install the ready flow `ready` as a new draft of the store, under its own slug or,
    when the store has a flow of that slug already, the first free `ready-2`, `ready-3`
    ...; the library's email templates the store lacks are installed with it (the
    store's own templates are left as they are). LookupError for no such ready flow."""
    definition = library_definition(ready)
    if definition is None:
        available = ", ".join(library_flow_slugs())
        raise LookupError(f"no ready flow {ready!r}; available: {available}")
    with transaction.atomic():
        install_default_templates(store=store, now=now)
        slug = free_flow_slug(store=store, base=ready)
        return create_flow(
            store=store,
            slug=slug,
            definition=stored_definition(definition),  # its guards left to the store's
            now=now,
        )


def set_flow_status(*, flow: Flow, status: FlowStatus) -> Flow:
    """Set `flow` live (new orders and occasions start it), paused or back to draft
    (nothing new starts it; journeys in flight go on); returns it as stored."""
    Flow.objects.filter(pk=flow.pk).update(status=status)
    flow.refresh_from_db(fields=["status"])
    return flow


def delete_flow(*, store: Store, slug: str) -> bool:
    """Delete the store's flow `slug` with everything it started: its versions, its
    journeys and their emails. True when there was such a flow."""
    deleted, _ = Flow.objects.filter(store=store, slug=slug).delete()
    return bool(deleted)


def _save_coupon_program(store: Store, flow: Flow, definition: FlowDefinition) -> None:
    if definition.coupon is not None:
        save_program(store=store, slug=flow.slug, **definition.coupon.model_dump())
    for _, step in definition.email_steps():
        if step.offer is not None:
            slug = coupon_program_slug(flow_slug=flow.slug, step_id=step.id)
            save_program(store=store, slug=slug, **step.offer.model_dump())


def process_orders(
    *,
    store: Store,
    order_ids: Sequence[int],
    now: dt.datetime,
    flows: Iterable[Flow] | None = None,
    enroll_from: dt.datetime | None = None,
) -> list[Enrollment]:
    """React to orders that arrived or changed: mark coupons they redeem, end the journeys
    they exit, and start the flows they trigger (the store's live flows, or `flows`: a
    backtest's replay, which then ends only the journeys of `flows`, never touching the
    other flows' rows); orders placed before `enroll_from` (history being imported)
    start none. Returns the enrollments started."""
    # Sorted here, not in SQL: an ORDER BY placed_at tempts SQLite into walking the
    # (store, placed_at) index over the whole history instead of looking up the ids.
    # The ids go into the SQL as literals (lib.bulk.id_in): a history import's batches
    # name thousands, which the ORM's __in would resolve one by one.
    if enroll_from is not None and not Coupon.objects.filter(store=store).exists():
        order_ids = _orders_that_matter(store, order_ids, enroll_from)
        if not order_ids:
            return []
    found = Order.objects.filter(bulk.id_in("pk", order_ids), store=store)
    orders = sorted(found.select_related("customer"), key=lambda order: (order.placed_at, order.pk))
    if not orders:
        return []
    record_redemptions(store=store, orders=orders)
    exit_enrollments(store=store, orders=orders, now=now, flows=flows)
    if enroll_from is not None:
        orders = [order for order in orders if order.placed_at >= enroll_from]
        if not orders:
            return []
    # The oldest flow enrolls first, on every database: two flows started by one order
    # meet smart sending in the order their journeys were created (scheduler.claim_due).
    candidates = (
        list(flows)
        if flows is not None
        else list(Flow.objects.filter(store=store, status=FlowStatus.LIVE).order_by("pk"))
    )
    return [e for flow in candidates for e in _enroll(flow, orders, now)]


def _orders_that_matter(
    store: Store, order_ids: Sequence[int], enroll_from: dt.datetime
) -> list[int]:
    """Of `order_ids`, those placed from `enroll_from` on, and the earlier ones (history)
    whose customer is on a journey (which they may exit): the rest start and end nothing
    while the store has no coupons. Looked up by id, never by a range of placed_at (which
    would lead SQLite to walk the store's whole history)."""
    # Whether each is history is asked of the database: reading each placed_at back
    # as a datetime was most of this pass (1,000,000 imported lines: about 2 s of CPU).
    rows = list(
        Order.objects.filter(bulk.id_in("pk", order_ids), store=store)
        .annotate(history=ExpressionWrapper(Q(placed_at__lt=enroll_from), BooleanField()))
        .values_list("pk", "customer_id", "history")
    )
    history = {customer for _, customer, earlier in rows if earlier}
    travelling = (
        set(
            Enrollment.objects.filter(
                bulk.id_in("customer_id", history), store=store, state=EnrollmentState.ACTIVE
            ).values_list("customer_id", flat=True)
        )
        if history
        else set()
    )
    return [pk for pk, customer, earlier in rows if not earlier or customer in travelling]


def exit_enrollments(
    *,
    store: Store,
    orders: Sequence[Order],
    now: dt.datetime,
    flows: Iterable[Flow] | None = None,
) -> int:
    """End active journeys (of `flows` only, when given) whose exit rules these orders
    meet (purchased again, refunded); return how many ended."""
    by_customer: dict[int, list[Order]] = {}
    for order in orders:
        by_customer.setdefault(order.customer_id, []).append(order)
    active = Enrollment.objects.filter(
        store=store, state=EnrollmentState.ACTIVE, customer_id__in=by_customer
    )
    if flows is not None:
        active = active.filter(flow__in=[flow.pk for flow in flows])
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
    entries = triggering_orders(flow=flow, definition=definition, orders=orders, now=now)
    return _create_enrollments(flow, version.pk, entries, definition=definition, now=now)


def process_events(
    *,
    store: Store,
    event_ids: Sequence[int],
    now: dt.datetime,
    flows: Iterable[Flow] | None = None,
) -> list[Enrollment]:
    """Start the store's live flows (or `flows`) that the posted events `event_ids` (a
    product view, a custom event) trigger; each event starts a flow at most once.
    Returns the enrollments started."""
    events = list(Event.objects.filter(store=store, pk__in=event_ids))
    if not events:
        return []
    started = []
    for flow, version_id, definition in live_flows(store=store, flows=flows):
        if definition.trigger.event in POSTED_EVENTS:
            entries = event_entries(trigger=definition.trigger, events=events, now=now)
            admitted = admit(flow=flow, trigger=definition.trigger, entries=entries, now=now)
            started += _create_enrollments(
                flow, version_id, admitted, definition=definition, now=now
            )
    return started


def enroll_timed_occasions(
    *, now: dt.datetime, store: Store | None = None, flows: Iterable[Flow] | None = None
) -> int:
    """The periodic pass: start the live flows (all stores', `store`'s, or `flows`)
    whose timed trigger (abandoned checkout, birthday, first-order anniversary, dormant
    customer) has occasions due by `now`. Running it again, or in two workers at once,
    enrolls nobody twice. Returns how many journeys it started."""
    started = 0
    for flow, version_id, definition in live_flows(store=store, flows=flows):
        if definition.trigger.event in TIMED_EVENTS:
            entries = timed_entries(flow=flow, trigger=definition.trigger, now=now)
            admitted = admit(flow=flow, trigger=definition.trigger, entries=entries, now=now)
            started += len(
                _create_enrollments(flow, version_id, admitted, definition=definition, now=now)
            )
    return started


def exit_completed_checkouts(*, store: Store, checkout_ids: Sequence[int], now: dt.datetime) -> int:
    """End the active journeys started by these checkouts, where the checkout has been
    completed by `now` and the flow exits on `checkout_completed`; return how many."""
    completed = Checkout.objects.filter(
        store=store, pk__in=checkout_ids, completed_at__lte=now
    ).values_list("pk", flat=True)
    ended = 0
    for enrollment in Enrollment.objects.filter(
        trigger_checkout_id__in=list(completed), state=EnrollmentState.ACTIVE
    ):
        if "checkout_completed" in definition_of(enrollment.version_id).exit_when:
            ended += end_enrollment(
                enrollment=enrollment,
                state=EnrollmentState.EXITED,
                reason="checkout_completed",
                when=now,
            )
    return ended


def _create_enrollments(
    flow: Flow,
    version_id: int,
    entries: Sequence[Entry],
    *,
    definition: FlowDefinition,
    now: dt.datetime,
) -> list[Enrollment]:
    zone = zone_named(flow.store.time_zone)
    percent = definition.holdout_percent
    covariates = covariates_at_entry(
        currency=flow.store.currency,
        entries=[(entry.customer_id, entry.at, entry.order_id) for entry in entries],
    )
    rows = [
        Enrollment(
            store_id=flow.store_id,
            flow=flow,
            version_id=version_id,
            customer_id=entry.customer_id,
            trigger_order_id=entry.order_id,
            trigger_checkout_id=entry.checkout_id,
            trigger_key=entry.key,
            entered_at=entry.at,
            due_at=entry.at,
            overdue_at_entry=every_email_overdue(
                definition=definition, entered_at=entry.at, now=now, zone=zone
            ),
            holdout=in_holdout(flow_id=flow.pk, customer_id=entry.customer_id, percent=percent),
            spend_90d=before.spend_90d,
            orders_90d=before.orders_90d,
            trigger_value=before.trigger_value,
        )
        for entry, before in zip(entries, covariates, strict=True)
    ]
    # An occasion another worker's pass enrolled a moment ago is dropped by the unique
    # (flow, customer, trigger_key); unkeyed order entries keep their new ids.
    keyed = [row for row in rows if row.trigger_key]
    created = Enrollment.objects.bulk_create([row for row in rows if not row.trigger_key])
    if keyed:
        created += Enrollment.objects.bulk_create(keyed, ignore_conflicts=True)
    return created
