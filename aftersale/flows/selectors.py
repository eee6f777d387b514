"""Reading flows and their versions."""

from functools import lru_cache

from aftersale.coupons.models import CouponProgram
from aftersale.flows.definition import FlowDefinition, parse_definition
from aftersale.flows.models import Flow, FlowVersion


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
