"""The store's flows: list, read, create from a JSON definition, revise as a new
version, set live, pause; and each flow's report."""

from django.http import HttpRequest
from ninja import Query, Status
from ninja.errors import ValidationError

from aftersale.api.auth import request_store
from aftersale.api.errors import ApiError, found, without_nul
from aftersale.api.read_schemas import (
    READ_ERRORS,
    FlowIn,
    FlowOut,
    FlowReportOut,
    FlowSummaryOut,
    FlowVersionIn,
    ReportQuery,
)
from aftersale.api.routes import router
from aftersale.api.schemas import ValidationErrorOut
from aftersale.flows.definition import InvalidFlowDefinition
from aftersale.flows.models import Flow, FlowStatus
from aftersale.flows.selectors import flow_by_slug, flow_summaries, latest_version
from aftersale.flows.services import FlowExists, create_flow, revise_flow, set_flow_status
from aftersale.lib import clock
from aftersale.reports.selectors import BadRange, flow_report, report_range

TAGS = ["flows"]

_SLUG = ["path", "slug"]


def _flow(request: HttpRequest, slug: str) -> Flow:
    flow = flow_by_slug(store=request_store(request), slug=without_nul(slug, loc=_SLUG))
    return found(flow, loc=_SLUG, what="such flow")


def _out(flow: Flow) -> FlowOut:
    version = latest_version(flow=flow)
    return FlowOut(
        slug=flow.slug,
        name=flow.name,
        status=FlowStatus(flow.status),
        version=version.number,
        definition=version.definition,
        created_at=flow.created_at,
    )


def _refused(error: InvalidFlowDefinition) -> ValidationError:
    """The definition's problems as a 422, each with its path inside the body."""
    return ValidationError(
        [
            {"type": "invalid_definition", "loc": ["body", "definition", *loc], "msg": msg}
            for loc, msg in error.problems
        ]
    )


@router.get("/flows", response={200: list[FlowSummaryOut], **READ_ERRORS}, tags=TAGS)
def list_flows(
    request: HttpRequest, status: Query[FlowStatus | None] = None
) -> list[FlowSummaryOut]:
    """The store's flows by slug (only those in `status` when given): status, latest
    version and how many customers are in each now."""
    summaries = flow_summaries(store=request_store(request), status=status)
    return [FlowSummaryOut(**vars(summary)) for summary in summaries]


@router.get("/flows/{slug}", response={200: FlowOut, **READ_ERRORS}, tags=TAGS)
def get_flow(request: HttpRequest, slug: str) -> FlowOut:
    """One flow with the definition of its latest version."""
    return _out(_flow(request, slug))


@router.post("/flows", response={201: FlowOut, 409: ValidationErrorOut, **READ_ERRORS}, tags=TAGS)
def post_flow(request: HttpRequest, flow: FlowIn) -> Status[FlowOut]:
    """Create a flow as a draft from its definition (the flow definition language of
    docs/flows.md); a definition that does not validate answers 422 naming each bad
    field, a slug the store uses already 409."""
    try:
        created = create_flow(
            store=request_store(request),
            slug=flow.slug,
            definition=flow.definition,
            now=clock.now(),
        )
    except InvalidFlowDefinition as error:
        raise _refused(error) from error
    except FlowExists as error:
        raise ApiError(409, ["body", "slug"], str(error), "exists") from error
    return Status(201, _out(created))


@router.put("/flows/{slug}", response={200: FlowOut, **READ_ERRORS}, tags=TAGS)
def put_flow(request: HttpRequest, slug: str, version: FlowVersionIn) -> FlowOut:
    """Give the flow a new version from its definition: new journeys start on it, the
    journeys in flight finish on theirs; the flow keeps its status."""
    flow = _flow(request, slug)
    try:
        revised = revise_flow(flow=flow, definition=version.definition, now=clock.now())
    except InvalidFlowDefinition as error:
        raise _refused(error) from error
    return _out(revised)


@router.post("/flows/{slug}/live", response={200: FlowOut, **READ_ERRORS}, tags=TAGS)
def set_live(request: HttpRequest, slug: str) -> FlowOut:
    """Set the flow live: new orders and occasions start it."""
    return _out(set_flow_status(flow=_flow(request, slug), status=FlowStatus.LIVE))


@router.post("/flows/{slug}/pause", response={200: FlowOut, **READ_ERRORS}, tags=TAGS)
def pause(request: HttpRequest, slug: str) -> FlowOut:
    """Pause the flow: nothing new starts it; the journeys in flight go on."""
    return _out(set_flow_status(flow=_flow(request, slug), status=FlowStatus.PAUSED))


@router.get("/flows/{slug}/report", response={200: FlowReportOut, **READ_ERRORS}, tags=TAGS)
def get_report(request: HttpRequest, slug: str, window: Query[ReportQuery]) -> dict[str, object]:
    """The flow's report over the journeys started from `since` to `until` (not
    included; days in the store's time zone), the same JSON `aftersale report SLUG
    --since --until --format json` prints; an `until` not after `since` answers 422."""
    flow = _flow(request, slug)
    try:
        since, until = report_range(store=flow.store, since=window.since, until=window.until)
    except BadRange as error:
        raise ApiError(422, ["query", "until"], str(error), "bad_range") from error
    return flow_report(flow=flow, now=clock.now(), since=since, until=until).as_dict()
