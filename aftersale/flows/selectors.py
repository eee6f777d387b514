"""Reading flows and their versions."""

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery

from aftersale.coupons.models import CouponProgram
from aftersale.customers.models import Customer
from aftersale.flows.definition import ORDER_EVENTS, FlowDefinition, Trigger, parse_definition
from aftersale.flows.models import Enrollment, EnrollmentState, Flow, FlowStatus, FlowVersion
from aftersale.orders.models import NOT_PURCHASES, Checkout, CheckoutLine, Order
from aftersale.segments.definition import Dormant, FirstTime, parse_segment
from aftersale.segments.selectors import customers_in_segment
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind

# The ready flows shipped with Aftersale, one JSON definition each.
LIBRARY_DIR = Path(__file__).parent / "library"


def latest_version(*, flow: Flow) -> FlowVersion:
    """The version new enrollments of `flow` start on."""
    return flow.versions.order_by("-number").first() or _no_version(flow)


@lru_cache(maxsize=1024)
def definition_of(version_id: int) -> FlowDefinition:
    """The parsed definition of a flow version (versions never change, so it is cached)."""
    return parse_definition(
        FlowVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    )


def coupon_program_of(*, flow: Flow, step_id: str = "") -> CouponProgram | None:
    """The coupon program a flow's emails hand out codes from: the flow's (slug: the
    flow's), or with `step_id` that step's own (a step with an `offer`; slug
    `FLOW--STEP`)."""
    return CouponProgram.objects.filter(
        store_id=flow.store_id, slug=coupon_program_slug(flow_slug=flow.slug, step_id=step_id)
    ).first()


def coupon_program_slug(*, flow_slug: str, step_id: str = "") -> str:
    """The slug of a flow's coupon program, or of its step `step_id`'s own."""
    return f"{flow_slug}--{step_id}" if step_id else flow_slug


def coupon_program_ids(*, flow: Flow, definition: FlowDefinition) -> list[int]:
    """The ids of every coupon program the flow's emails (in `definition`) hand out
    codes from: the flow's and its steps' own."""
    slugs = [coupon_program_slug(flow_slug=flow.slug)] + [
        coupon_program_slug(flow_slug=flow.slug, step_id=s.id)
        for _, s in definition.email_steps()
        if s.offer is not None
    ]
    return list(
        CouponProgram.objects.filter(store_id=flow.store_id, slug__in=slugs).values_list(
            "pk", flat=True
        )
    )


def _no_version(flow: Flow) -> FlowVersion:
    raise LookupError(f"flow {flow.slug} has no version")


def live_flows(
    *, store: Store | None = None, flows: Iterable[Flow] | None = None
) -> list[tuple[Flow, int, FlowDefinition]]:
    """`flows`, or else the live flows of `store` (of every store if None), each with
    the id of the version new enrollments start on and its definition. Two queries,
    however many flows: the worker's every pass asks."""
    if flows is None:
        live = Flow.objects.filter(status=FlowStatus.LIVE).select_related("store").order_by("pk")
        flows = live if store is None else live.filter(store=store)
    flows = list(flows)
    newest = FlowVersion.objects.filter(flow=OuterRef("pk")).order_by("-number").values("pk")
    version_ids = dict(
        Flow.objects.filter(pk__in=[flow.pk for flow in flows])
        .annotate(version_id=Subquery(newest[:1]))
        .values_list("pk", "version_id")
    )
    found = []
    for flow in flows:
        version_id = version_ids.get(flow.pk) or _no_version(flow).pk
        found.append((flow, version_id, definition_of(version_id)))
    return found


def journey_checkout(*, message_id: int) -> Checkout | None:
    """The checkout that started the journey of message `message_id`, with its lines'
    products loaded; None when no checkout did (or it is gone)."""
    started_by = Enrollment.objects.filter(messages__pk=message_id).values("trigger_checkout_id")
    lines = Prefetch(
        "lines", queryset=CheckoutLine.objects.select_related("product").order_by("id")
    )
    return Checkout.objects.filter(pk__in=started_by).prefetch_related(lines).first()


@dataclass(frozen=True)
class FlowSummary:
    """One installed flow as a list shows it."""

    slug: str
    name: str
    status: str
    version: int
    active: int


def flow_summaries(*, store: Store, status: FlowStatus | None = None) -> list[FlowSummary]:
    """The store's flows (only those in `status` when given) by slug: status, latest
    version number and how many customers are in each now."""
    flows = Flow.objects.filter(store=store).order_by("slug")
    if status is not None:
        flows = flows.filter(status=status)
    flows = flows.annotate(
        version=Max("versions__number"),
        active=Count(
            "enrollments", filter=Q(enrollments__state=EnrollmentState.ACTIVE), distinct=True
        ),
    )
    return [
        FlowSummary(f.slug, f.name, f.status, f.version or 0, f.active)  # type: ignore[attr-defined]
        for f in flows
    ]


def store_flows(*, store: Store) -> list[Flow]:
    """Every flow of the store, by slug."""
    return list(Flow.objects.filter(store=store).order_by("slug"))


def flow_by_slug(*, store: Store, slug: str) -> Flow | None:
    """The store's flow `slug`, if there is one."""
    return Flow.objects.filter(store=store, slug=slug).first()


def library_flow_slugs() -> list[str]:
    """The ready flows shipped with Aftersale, by slug."""
    return sorted(path.stem for path in LIBRARY_DIR.glob("*.json"))


# What each ready flow does, in a sentence (the JSON definitions carry no description).
LIBRARY_DESCRIPTIONS = {
    "post-purchase-upsell": "Thanks first-time buyers, then offers them a coupon on "
    "products that go with their order, and reminds them of it once.",
    "cross-sell-series": "After an order ships: thanks, tips for using it once delivered, "
    "products that go with it, then a review request with a coupon.",
    "review-request": "Asks for a review a week after delivery, on a good weekday morning.",
    "replenishment": "Reminds customers to restock a product shortly before they usually "
    "run out of it.",
    "win-back": "Writes to customers who have not bought for 90 days, with a coupon in the "
    "second email and a last reminder.",
    "checkout-recovery": "Reminds customers of the checkout they left, three times, the "
    "last with a coupon.",
}


@dataclass(frozen=True)
class LibraryFlow:
    """A ready flow as the Automations page shows it."""

    slug: str
    name: str
    description: str
    definition: FlowDefinition


def library_definition(slug: str) -> FlowDefinition | None:
    """The parsed definition of the ready flow `slug`, or None when there is none."""
    path = LIBRARY_DIR / f"{slug}.json"
    if slug not in library_flow_slugs() or not path.exists():
        return None
    return parse_definition(json.loads(path.read_text()))


def library_flows() -> list[LibraryFlow]:
    """Every ready flow shipped with Aftersale, with what it does: post-purchase upsell
    first, the others as a customer's life meets them."""
    found = []
    # In the order of LIBRARY_DESCRIPTIONS (the customer's life: first order first).
    order = list(LIBRARY_DESCRIPTIONS)
    ranked = sorted(library_flow_slugs(), key=lambda s: order.index(s) if s in order else 99)
    for slug in ranked:
        definition = library_definition(slug)
        if definition is not None:
            found.append(
                LibraryFlow(slug, definition.name, LIBRARY_DESCRIPTIONS.get(slug, ""), definition)
            )
    return found


def free_flow_slug(*, store: Store, base: str) -> str:
    """`base` if the store has no flow of that slug, else the first free `base-2`,
    `base-3`, ..."""
    taken = set(
        Flow.objects.filter(store=store, slug__startswith=base).values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


# How far back a posted event (a product view, a custom event) makes a customer qualify.
RECENT_EVENT_DAYS = 30
PREVIEW_LIMIT = 10


@dataclass(frozen=True)
class QualifyingCustomer:
    """One customer the trigger card previews (the email masked)."""

    name: str
    email: str
    last_order_at: dt.datetime | None


@dataclass(frozen=True)
class Qualifying:
    """How many of the store's customers a trigger's conditions take in today, and a few
    of them."""

    count: int
    preview: list[QualifyingCustomer]


def qualifying_customers(
    *, store: Store, trigger: Trigger, now: dt.datetime, limit: int = PREVIEW_LIMIT
) -> Qualifying:
    """The store's customers who meet `trigger` at `now` (its event has happened to them:
    first-time buyers for `first_purchase`, dormant customers for `customer_dormant`, a
    birthday today ..., with its order total, products, categories and segment) and may
    be sent marketing: their number (one COUNT) and the `limit` most recent of them (one
    query with LIMIT), never loading them all."""
    customers = _qualifying(store=store, trigger=trigger, now=now)
    count = customers.count()
    last_order = (
        Order.objects.filter(customer=OuterRef("pk"), placed_at__lte=now)
        .exclude(status__in=NOT_PURCHASES)
        .order_by("-placed_at")
        .values("placed_at")[:1]
    )
    rows = customers.annotate(last_order_at=Subquery(last_order)).order_by("-pk")[:limit]
    preview = [
        QualifyingCustomer(
            name=f"{c.first_name} {c.last_name}".strip(),
            email=mask_email(c.email),
            last_order_at=c.last_order_at,  # type: ignore[attr-defined]
        )
        for c in rows
    ]
    return Qualifying(count=count, preview=preview)


def mask_email(email: str) -> str:
    """An address with most of its local part hidden: "ada@example.com" -> "a••@example.com"."""
    local, at, domain = email.partition("@")
    if not at:
        return "•••"
    return f"{local[:1]}{'•' * max(2, min(len(local) - 1, 6))}@{domain}"


def _qualifying(*, store: Store, trigger: Trigger, now: dt.datetime) -> QuerySet[Customer]:
    customers = Customer.objects.filter(
        store=store, accepts_marketing=True, unsubscribed_at__isnull=True
    )
    purchases = Order.objects.filter(
        store=store, customer=OuterRef("pk"), placed_at__lte=now
    ).exclude(status__in=NOT_PURCHASES)
    event = trigger.event
    if event in ORDER_EVENTS:
        matching = purchases.filter(total__gte=trigger.min_order_total)
        if trigger.products:
            matching = matching.filter(
                Q(line_items__product__external_id__in=trigger.products)
                | Q(line_items__sku__in=trigger.products)
            )
        if trigger.categories:
            matching = matching.filter(line_items__product__category__in=trigger.categories)
        if event == "order_fulfilled":
            matching = matching.filter(fulfilled_at__lte=now)
        if event == "order_delivered":
            matching = matching.filter(delivered_at__lte=now)
        customers = customers.filter(Exists(matching))
        if event == "first_purchase":
            customers = customers.filter(
                pk__in=customers_in_segment(
                    store=store, segment=FirstTime(type="first_time"), now=now
                )
            )
    elif event == "checkout_abandoned":
        open_checkouts = Checkout.objects.filter(
            store=store,
            customer=OuterRef("pk"),
            completed_at__isnull=True,
            started_at__lte=now - dt.timedelta(hours=trigger.abandoned_hours),
            total__gte=trigger.min_order_total,
        )
        customers = customers.filter(Exists(open_checkouts))
    elif event == "customer_dormant":
        dormant = Dormant(type="dormant", days=trigger.dormant_days)
        customers = customers.filter(
            pk__in=customers_in_segment(store=store, segment=dormant, now=now)
        )
    elif event == "birthday":
        customers = customers.filter(birthday__month=now.month, birthday__day=now.day)
    elif event == "first_order_anniversary":
        first = purchases.order_by("placed_at").values("placed_at")[:1]
        customers = customers.annotate(first_order_at=Subquery(first)).filter(
            first_order_at__month=now.month,
            first_order_at__day=now.day,
            first_order_at__year__lt=now.year,
        )
    else:
        kind = EventKind.PRODUCT_VIEWED if event == "product_viewed" else EventKind.CUSTOM
        events = Event.objects.filter(
            store=store,
            customer=OuterRef("pk"),
            kind=kind,
            occurred_at__gt=now - dt.timedelta(days=RECENT_EVENT_DAYS),
            occurred_at__lte=now,
        )
        if event == "custom":
            events = events.filter(data__name=trigger.name)
        customers = customers.filter(Exists(events))
    if trigger.segment is not None:
        segment = parse_segment(trigger.segment)
        customers = customers.filter(
            pk__in=customers_in_segment(store=store, segment=segment, now=now)
        )
    return customers


def journeys_in_flight(*, flow: Flow) -> list[tuple[int, int]]:
    """(version number, active journeys) for every version of `flow` that has customers
    in it now, oldest version first."""
    rows = (
        Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE)
        .values_list("version__number")
        .annotate(active=Count("pk"))
        .order_by("version__number")
    )
    return [(number, active) for number, active in rows]
