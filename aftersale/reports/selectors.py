"""The flow report: how many started, left, finished and bought, and what each step and
message did (the numbers of seed 001's automation report), for the journeys that started
in a date range; and the headline numbers of many flows at once."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, QuerySet

from aftersale.attribution.selectors import Earned, earned_by_step
from aftersale.flows.definition import ABSplitStep, DelayStep, EmailStep, SplitStep
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.lib.reads import read_concurrently
from aftersale.messaging.models import Engagement, Message, MessageStatus, SkipReason
from aftersale.reports.days import day_of
from aftersale.reports.journey_orders import JourneyOrders, journey_orders, journey_orders_sql
from aftersale.stores.models import Store

_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED)
_COUNTS = ("delivered", "read", "replied", "bounced", "clicked", "unsubscribed")
_CENT = Decimal("0.01")
_ENGAGEMENT_COUNTS = (
    ("read", Engagement.READ),
    ("clicked", Engagement.CLICKED),
    ("replied", Engagement.REPLIED),
    ("unsubscribed", Engagement.UNSUBSCRIBED),
)


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
    # The purchases credited to this step's emails (attribution): orders, and their
    # revenue net of refunds in the store's currency (each currency apart).
    purchased: int = 0
    revenue: Decimal = Decimal("0.00")
    revenue_by_currency: dict[str, Decimal] = field(default_factory=dict)
    # Emails decided against (status skipped), and why ({SkipReason value: n}; an email
    # skipped before reasons were recorded counts as "unrecorded"), and the emails quiet
    # hours moved to their end (sent later, not skipped).
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    moved_by_quiet_hours: int = 0

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


@dataclass(order=True)
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
    # The purchases credited to the flow's emails (attribution), net of refunds.
    attributed_orders: int = 0
    attributed_revenue: Decimal = Decimal("0.00")
    attributed_revenue_by_currency: dict[str, Decimal] = field(default_factory=dict)
    # Journeys whose every email was already due when they started (a late or
    # back-dated order): flows.timing.every_email_overdue.
    overdue_at_entry: int = 0
    # Holdout and A/B tests (reports.experiments.experiment_keys says what each means).
    holdout: dict[str, Any] = field(default_factory=dict)
    recipients: dict[str, Any] = field(default_factory=dict)
    incremental_revenue: float | None = None
    incremental_revenue_ci: list[float | None] | None = None
    incremental_revenue_cuped: float | None = None
    incremental_revenue_cuped_ci: list[float | None] | None = None
    variance_reduction: float | None = None
    holdout_verdict: str = ""
    variants: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON values: money as numbers of two decimals, dates and times
        as ISO 8601 text (None for an open end of the range)."""
        data = _json_money(asdict(self))
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        data["revenue_by_day"] = [
            {**day, "date": day["date"].isoformat()} for day in data["revenue_by_day"]
        ]
        return data


def _json_money(value: Any) -> Any:
    """`value` with every Decimal in it, however deep, as a float."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _json_money(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_money(item) for item in value]
    return value


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
    day in the store's time zone). `attributed_revenue` (and per message `purchased`
    and `revenue`) are the purchases credited to the flow's emails (attribution), net
    of refunds; then what the flow caused (holdout and A/B tests: reports.experiments).
    Every rate comes with its count. About seven queries, whatever the number of
    journeys, run side by side."""
    # Imported here: the statistics' NumPy and SciPy would slow every command's start.
    from aftersale.reports import experiments as ex

    store = flow.store
    version = latest_version(flow=flow)
    definition = definition_of(version.pk)
    journeys = journeys_in_range(flow=flow, since=since, until=until)
    scope = ex.experiment_scope(flow=flow, definition=definition, now=now, since=since, until=until)
    tally, messages, orders, earned, matured = read_concurrently(
        lambda: _tally_journeys(journeys, len(definition.steps)),
        lambda: _message_stats(flow, since, until, definition.steps),
        lambda: journey_orders(
            flow_id=flow.pk,
            now=now,
            since=since,
            until=until,
            zone=store.time_zone,
            window=scope.window(),
        ),
        lambda: earned_by_step(flow_id=flow.pk, since=since, until=until),
        lambda: ex.matured_journeys(scope),
    )
    experiments = ex.keys_of(
        scope=scope, definition=definition, matured=matured, buyers=orders.window_buyers
    )
    buyers, by_day = orders.buyers, _days(orders, store.time_zone)
    _credit_steps(messages, earned, store.currency)
    attributed = _by_currency(
        (currency, e.revenue) for by_step in earned.values() for currency, e in by_step.items()
    )
    by_currency = _by_currency((day.currency, day.revenue) for day in by_day)
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
        revenue=by_currency.get(store.currency, Decimal("0.00")),
        revenue_by_currency=by_currency,
        revenue_by_day=by_day,
        attributed_orders=sum(e.orders for by_step in earned.values() for e in by_step.values()),
        attributed_revenue=attributed.get(store.currency, Decimal("0.00")),
        attributed_revenue_by_currency=attributed,
        overdue_at_entry=tally.overdue,
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
        **experiments,
    )


def _credit_steps(
    messages: dict[int, MessageStats], earned: dict[int | None, dict[str, Earned]], currency: str
) -> None:
    """Add to each step's message stats the purchases its emails earned."""
    for step_index, by_currency in earned.items():
        stats = messages.get(step_index) if step_index is not None else None
        if stats is None:
            continue  # an email of a step the latest version no longer has
        stats.purchased = sum(e.orders for e in by_currency.values())
        stats.revenue_by_currency = _by_currency((c, e.revenue) for c, e in by_currency.items())
        stats.revenue = stats.revenue_by_currency.get(currency, Decimal("0.00"))


def _by_currency(amounts: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """The sum of `amounts` in each currency, never across currencies, by code."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in amounts:
        totals[currency] += amount
    return {c: v.quantize(_CENT) for c, v in sorted(totals.items())}


@dataclass
class _Tally:
    started: int = 0
    states: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waiting: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    progressed: list[int] = field(default_factory=list)
    overdue: int = 0  # journeys that started with every email already due


def _tally_journeys(journeys: QuerySet[Enrollment], steps: int) -> _Tally:
    """States, exit reasons, who waits at which step and who went past each step, in one
    grouped scan: the combinations of state, step, reason and path are few."""
    tally = _Tally(progressed=[0] * steps)
    rows = journeys.values_list(
        "state", "step_index", "exit_reason", "passed_steps", "overdue_at_entry"
    ).annotate(n=Count("*"))
    for state, step_index, reason, passed, overdue, n in rows.order_by():
        tally.started += n
        tally.overdue += n if overdue else 0
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
    """Per email step: the messages of the journeys in range by status and skip reason,
    and how many of their recipients read (a person's open, not a machine's), clicked,
    replied and unsubscribed, each message counted once for each: one grouped scan of
    the covering index on flow, step, status, skip reason and engagement when the range
    is open."""
    messages = Message.objects.filter(flow=flow, step_index__isnull=False)
    if since is not None:
        messages = messages.filter(enrollment__entered_at__gte=since)
    if until is not None:
        messages = messages.filter(enrollment__entered_at__lt=until)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reasons: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step_index, status, reason, engagement, n in (
        messages.values_list("step_index", "status", "skip_reason", "engagement")
        .annotate(n=Count("*"))
        .order_by()
    ):
        counts[step_index][status] += n
        if status == MessageStatus.SKIPPED or reason:
            reasons[step_index][reason or "unrecorded"] += n
        for name, bit in _ENGAGEMENT_COUNTS:
            if engagement & bit:
                counts[step_index][name] += n
    templates = {i: s.template for i, s in enumerate(steps) if isinstance(s, EmailStep)}
    return {
        index: MessageStats(
            template=templates.get(index, ""),
            sent=sum(by_status.get(status, 0) for status in _SENT),
            delivered=by_status.get(MessageStatus.DELIVERED, 0),
            bounced=by_status.get(MessageStatus.BOUNCED, 0),
            read=by_status.get("read", 0),
            clicked=by_status.get("clicked", 0),
            replied=by_status.get("replied", 0),
            unsubscribed=by_status.get("unsubscribed", 0),
            **_skips(by_status, reasons.get(index, {})),
        )
        for index, by_status in counts.items()
    }


def _skips(by_status: dict[str, int], reasons: dict[str, int]) -> dict[str, Any]:
    """The skipped and moved counts of one message's rows by status and by reason."""
    moved = SkipReason.QUIET_HOURS_MOVED.value
    return {
        "skipped": by_status.get(MessageStatus.SKIPPED, 0),
        "skipped_by_reason": {r: n for r, n in sorted(reasons.items()) if r != moved},
        "moved_by_quiet_hours": reasons.get(moved, 0),
    }


def _money(value: object) -> Decimal:
    # SQLite adds decimals as floats: back to cents, exactly.
    return Decimal(str(value)).quantize(_CENT)


def _days(orders: JourneyOrders, zone: str) -> list[DayRevenue]:
    """The in-flow purchases of `orders` by day in `zone` and currency, in date order."""
    totals: dict[tuple[dt.date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for day, currency, revenue, n in orders.by_day:
        total = totals[day_of(day, zone), currency]
        total[0] += _money(revenue)
        total[1] += n
    return sorted(
        DayRevenue(date=date, currency=currency, revenue=revenue, orders=n)
        for (date, currency), (revenue, n) in totals.items()
    )


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
        .annotate(n=Count("*"))
        .order_by()
    ):
        states[flow_id][state] += n
    sql, params = journey_orders_sql(
        flow_ids=[flow.pk for flow in flows],
        now=now,
        since=None,
        until=None,
        zone="UTC",
        window=None,
    )
    sql += (
        " SELECT flow_id, NULL, COUNT(DISTINCT customer_id) FROM jo WHERE in_flow "
        "GROUP BY flow_id "
        "UNION ALL SELECT flow_id, currency, SUM(total) FROM jo WHERE in_flow "
        "GROUP BY flow_id, currency"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    buyers = {flow_id: int(n) for flow_id, currency, n in rows if currency is None}
    revenue: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for flow_id, currency, total in rows:
        if currency is not None:
            revenue[flow_id][currency] = _money(total)
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
