"""Reading flows and their versions."""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.db.models import Count, Max, OuterRef, Prefetch, Q, Subquery

from aftersale.coupons.models import CouponProgram
from aftersale.flows.definition import FlowDefinition, parse_definition
from aftersale.flows.models import Enrollment, EnrollmentState, Flow, FlowStatus, FlowVersion
from aftersale.orders.models import Checkout, CheckoutLine
from aftersale.stores.models import Store

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


def coupon_program_of(*, flow: Flow) -> CouponProgram | None:
    """The coupon program a flow's emails hand out codes from."""
    return CouponProgram.objects.filter(store_id=flow.store_id, slug=flow.slug).first()


def _no_version(flow: Flow) -> FlowVersion:
    raise LookupError(f"flow {flow.slug} has no version")


def live_flows(
    *, store: Store | None = None, flows: Iterable[Flow] | None = None
) -> list[tuple[Flow, int, FlowDefinition]]:
    """`flows`, or else the live flows of `store` (of every store if None), each with
    the id of the version new enrollments start on and its definition. Two queries,
    however many flows: the worker's every pass asks."""
    if flows is None:
        live = Flow.objects.filter(status=FlowStatus.LIVE).select_related("store")
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


def flow_by_slug(*, store: Store, slug: str) -> Flow | None:
    """The store's flow `slug`, if there is one."""
    return Flow.objects.filter(store=store, slug=slug).first()


def library_flow_slugs() -> list[str]:
    """The ready flows shipped with Aftersale, by slug."""
    return sorted(path.stem for path in LIBRARY_DIR.glob("*.json"))
