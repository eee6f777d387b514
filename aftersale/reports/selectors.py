"""The flow report: how many started, left, finished and bought, and what each step and
message did (the numbers of seed 001's automation report), for the journeys that started
in a date range; and the headline numbers of many flows at once."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate

from aftersale.flows.definition import ABSplitStep, DelayStep, EmailStep, SplitStep
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.selectors import human_open_filter

_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED)
_COUNTS = ("delivered", "read", "replied", "bounced", "clicked", "unsubscribed")
_CENT = Decimal("0.01")


class BadRange(ValueError):
    """A date range whose end is not after its start."""


@dataclass
class MessageStats:
    """What one email step's messages did. Every `<count>_pct` is that count as a
    percentage of `sent` (one decimal; 0.0 when nothing was sent)."""

    template: str
    sent: int = 0
    delivered: int = 0
    read: int = 0
    replied: int = 0
    bounced: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    delivered_pct: float = field(init=False)
    read_pct: float = field(init=False)
    replied_pct: float = field(init=False)
    bounced_pct: float = field(init=False)
    clicked_pct: float = field(init=False)
    unsubscribed_pct: float = field(init=False)

    def __post_init__(self) -> None:
        for name in _COUNTS:
            setattr(self, f"{name}_pct", _pct(getattr(self, name), self.sent))


@dataclass
class StepStats:
    index: int
    type: str
    label: str
    waiting: int
    progressed: int
    message: MessageStats | None = None


@dataclass
class DayRevenue:
    """The in-flow purchases of one day (in the store's time zone) in one currency."""

    date: dt.date
    currency: str
    revenue: Decimal
    orders: int


@dataclass
class FlowReport:
    flow: str
    name: str
    started: int
    exited_pct: float
    completed_pct: float
    purchased_pct: float
    revenue: Decimal
    exit_reasons: dict[str, int] = field(default_factory=dict)
    steps: list[StepStats] = field(default_factory=list)
    status: str = ""
    version: int = 0
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    in_flow: int = 0
    exited: int = 0
    completed: int = 0
    purchased: int = 0
    orders: int = 0
    currency: str = "USD"
    revenue_by_currency: dict[str, Decimal] = field(default_factory=dict)
    revenue_by_day: list[DayRevenue] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON values: money as numbers of two decimals, dates and times
        as ISO 8601 text (None for an open end of the range)."""
        data = asdict(self)
        data["revenue"] = float(self.revenue)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        data["revenue_by_currency"] = {c: float(v) for c, v in self.revenue_by_currency.items()}
        data["revenue_by_day"] = [
            {**day, "date": day["date"].isoformat(), "revenue": float(day["revenue"])}
            for day in data["revenue_by_day"]
        ]
        return data


@dataclass(frozen=True)
class Headline:
    """A flow's numbers for a list of flows: journeys started, in the flow now, the
    share of journeys whose customer bought while in the flow (with its count), and that
    revenue in the store's currency (other currencies in `revenue_by_currency`)."""

    started: int
    in_flow: int
    purchased: int
    purchased_pct: float
    revenue: Decimal
    currency: str
    revenue_by_currency: dict[str, Decimal]


def report_range(
    *, store: Store, since: dt.date | None, until: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The moments the dates `since` and `until` begin in the store's time zone: the
    range [since, until) a report covers (None leaves that end open). BadRange when
    `until` is not after `since`."""
    if since and until and until <= since:
        raise BadRange("until must be a later date than since")
    zone = ZoneInfo(store.time_zone)

    def midnight(day: dt.date | None) -> dt.datetime | None:
        return dt.datetime.combine(day, dt.time(), tzinfo=zone) if day else None

    return midnight(since), midnight(until)


def journeys_in_range(
    *, flow: Flow, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[Enrollment]:
    """The journeys through `flow` that started (entered it) at or after `since` and
    before `until`; an open end (None) leaves that side unbounded."""
    journeys = Enrollment.objects.filter(flow=flow)
    if since is not None:
        journeys = journeys.filter(entered_at__gte=since)
    if until is not None:
        journeys = journeys.filter(entered_at__lt=until)
    return journeys


def flow_report(
    *,
    flow: Flow,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> FlowReport:
    """The report of `flow` as of `now`, over the journeys that started in [since,
    until) (all journeys when both are None): their states, steps and exit reasons, the
    messages those journeys were sent and what their recipients did, and the orders the
    customers placed while in the flow (after entering, up to leaving or `now`).
    Revenue is never added across currencies: `revenue` is in the store's currency,
    `revenue_by_currency` has each currency's total and `revenue_by_day` each day's (a
    day in the store's time zone). Every rate comes with its count. About five queries,
    whatever the number of journeys."""
    store = flow.store
    version = latest_version(flow=flow)
    definition = definition_of(version.pk)
    journeys = journeys_in_range(flow=flow, since=since, until=until)
    tally = _tally_journeys(journeys, len(definition.steps))
    messages = _message_stats(flow, since, until, definition.steps)
    buyers, by_day = _purchases(flow, now, since, until)
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for day in by_day:
        by_currency[day.currency] += day.revenue
    started = tally.started
    exited = tally.states.get(EnrollmentState.EXITED, 0)
    completed = tally.states.get(EnrollmentState.COMPLETED, 0)
    return FlowReport(
        flow=flow.slug,
        name=flow.name,
        status=flow.status,
        version=version.number,
        since=since,
        until=until,
        started=started,
        in_flow=tally.states.get(EnrollmentState.ACTIVE, 0),
        exited=exited,
        exited_pct=_pct(exited, started),
        completed=completed,
        completed_pct=_pct(completed, started),
        purchased=buyers,
        purchased_pct=_pct(buyers, started),
        orders=sum(day.orders for day in by_day),
        currency=store.currency,
        revenue=by_currency.get(store.currency, Decimal("0")).quantize(_CENT),
        revenue_by_currency={c: v.quantize(_CENT) for c, v in sorted(by_currency.items())},
        revenue_by_day=by_day,
        exit_reasons=dict(sorted(tally.reasons.items())),
        steps=[
            StepStats(
                index=index,
                type=step.type,
                label=_label(step),
                waiting=tally.waiting.get(index, 0),
                progressed=tally.progressed[index],
                message=messages.get(index, MessageStats(template=step.template))
                if isinstance(step, EmailStep)
                else None,
            )
            for index, step in enumerate(definition.steps)
        ],
    )


@dataclass
class _Tally:
    started: int = 0
    states: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waiting: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    progressed: list[int] = field(default_factory=list)


def _tally_journeys(journeys: QuerySet[Enrollment], steps: int) -> _Tally:
    """States, exit reasons, who waits at which step and who went past each step, in one
    grouped scan: the combinations of state, step, reason and path are few."""
    tally = _Tally(progressed=[0] * steps)
    rows = journeys.values_list("state", "step_index", "exit_reason", "passed_steps").annotate(
        n=Count("pk")
    )
    for state, step_index, reason, passed, n in rows.order_by():
        tally.started += n
        tally.states[state] += n
        if state == EnrollmentState.EXITED:
            tally.reasons[reason] += n
        if state == EnrollmentState.ACTIVE:
            tally.waiting[step_index] += n
        for i in range(steps):
            if passed & (1 << i):
                tally.progressed[i] += n
    return tally


def _message_stats(
    flow: Flow, since: dt.datetime | None, until: dt.datetime | None, steps: Iterable[object]
) -> dict[int, MessageStats]:
    """Per email step: the messages of the journeys in range by status (one scan of the
    covering index on flow, step and status when the range is open), and their
    recipients' opens, clicks, replies and unsubscribes (one message counts once)."""
    messages = Message.objects.filter(flow=flow, step_index__isnull=False)
    events = Event.objects.filter(message__flow=flow, message__step_index__isnull=False)
    if since is not None:
        messages = messages.filter(enrollment__entered_at__gte=since)
        events = events.filter(message__enrollment__entered_at__gte=since)
    if until is not None:
        messages = messages.filter(enrollment__entered_at__lt=until)
        events = events.filter(message__enrollment__entered_at__lt=until)
    statuses: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step_index, status, n in (
        messages.values_list("step_index", "status").annotate(n=Count("pk")).order_by()
    ):
        statuses[step_index][status] += n
    acted = (
        events.filter(
            kind__in=[
                EventKind.OPENED,
                EventKind.CLICKED,
                EventKind.REPLIED,
                EventKind.UNSUBSCRIBED,
            ]
        )
        .values_list("message__step_index")
        .annotate(
            read=Count("message_id", filter=human_open_filter(), distinct=True),
            clicked=Count("message_id", filter=Q(kind=EventKind.CLICKED), distinct=True),
            replied=Count("message_id", filter=Q(kind=EventKind.REPLIED), distinct=True),
            unsubscribed=Count("message_id", filter=Q(kind=EventKind.UNSUBSCRIBED), distinct=True),
        )
        .order_by()
    )
    actions = {row[0]: row[1:] for row in acted}
    templates = {i: s.template for i, s in enumerate(steps) if isinstance(s, EmailStep)}
    stats = {}
    for index in set(statuses) | set(actions):
        by_status = statuses.get(index, {})
        read, clicked, replied, unsubscribed = actions.get(index, (0, 0, 0, 0))
        stats[index] = MessageStats(
            template=templates.get(index, ""),
            sent=sum(by_status.get(status, 0) for status in _SENT),
            delivered=by_status.get(MessageStatus.DELIVERED, 0),
            bounced=by_status.get(MessageStatus.BOUNCED, 0),
            read=read,
            clicked=clicked,
            replied=replied,
            unsubscribed=unsubscribed,
        )
    return stats


def _purchases_in_flow(
    flows: Iterable[Flow] | Flow,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[Order]:
    """Orders that enrolled customers placed between entering and leaving the flow (or
    `now`), one row per journey an order falls in, for journeys started in [since,
    until). The conditions are in one filter() so they hold for the same journey."""
    path = "customer__enrollments__"
    conditions = Q(
        placed_at__gt=F(f"{path}entered_at"),
        placed_at__lte=Coalesce(F(f"{path}ended_at"), now),
    )
    if isinstance(flows, Flow):
        conditions &= Q(store_id=flows.store_id, **{f"{path}flow": flows})
    else:
        conditions &= Q(**{f"{path}flow__in": list(flows)})
    if since is not None:
        conditions &= Q(**{f"{path}entered_at__gte": since})
    if until is not None:
        conditions &= Q(**{f"{path}entered_at__lt": until})
    return Order.objects.filter(conditions).exclude(status__in=NOT_PURCHASES)


def _purchases(
    flow: Flow, now: dt.datetime, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[int, list[DayRevenue]]:
    """How many customers bought while in the flow, and the purchases by day (in the
    store's time zone) and currency."""
    purchases = _purchases_in_flow(flow, now, since, until)
    buyers = purchases.values("customer_id").distinct().count()
    zone = ZoneInfo(flow.store.time_zone)
    rows = (
        purchases.annotate(day=TruncDate("placed_at", tzinfo=zone))
        .values_list("day", "currency")
        .annotate(revenue=Sum("total"), orders=Count("pk"))
        .order_by("day", "currency")
    )
    days = [
        DayRevenue(date=day, currency=currency, revenue=Decimal(revenue).quantize(_CENT), orders=n)
        for day, currency, revenue, n in rows
    ]
    return buyers, days


def flow_headlines(*, flows: Iterable[Flow], now: dt.datetime) -> dict[int, Headline]:
    """The headline numbers of each of `flows` (all of one store) by flow id, as their
    reports over all journeys give them (started, in the flow, purchased with its
    percentage, revenue), in three grouped queries however many flows (and one for the
    store, unless the flows come with it): not a report each."""
    flows = list(flows)
    if not flows:
        return {}
    states: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for flow_id, state, n in (
        Enrollment.objects.filter(flow__in=flows)
        .values_list("flow_id", "state")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        states[flow_id][state] += n
    journey_flow = "customer__enrollments__flow"
    purchases = _purchases_in_flow(flows, now)
    buyers = dict(
        purchases.values_list(journey_flow)
        .annotate(n=Count("customer_id", distinct=True))
        .order_by()
    )
    revenue: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for flow_id, currency, total in (
        purchases.values_list(journey_flow, "currency").annotate(total=Sum("total")).order_by()
    ):
        revenue[flow_id][currency] = Decimal(total).quantize(_CENT)
    currency = flows[0].store.currency
    headlines = {}
    for flow in flows:
        started = sum(states[flow.pk].values())
        headlines[flow.pk] = Headline(
            started=started,
            in_flow=states[flow.pk].get(EnrollmentState.ACTIVE, 0),
            purchased=buyers.get(flow.pk, 0),
            purchased_pct=_pct(buyers.get(flow.pk, 0), started),
            revenue=revenue[flow.pk].get(currency, Decimal("0.00")),
            currency=currency,
            revenue_by_currency=dict(sorted(revenue[flow.pk].items())),
        )
    return headlines


def _label(step: object) -> str:
    if isinstance(step, DelayStep):
        return f"wait {_duration(step.duration)}"
    if isinstance(step, EmailStep):
        return f"email {step.template}"
    if isinstance(step, SplitStep):
        return f"split on {step.condition.kind}"
    if isinstance(step, ABSplitStep):
        return "A/B split " + ":".join(str(v.weight) for v in step.variants)
    return "exit"


def _duration(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    amount, unit = (hours / 24, "day") if hours >= 24 else (hours, "hour")
    return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
