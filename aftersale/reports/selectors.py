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
from django.db.models import Count, Field, Model, Q, QuerySet

from aftersale.flows.definition import ABSplitStep, DelayStep, EmailStep, SplitStep
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.reports.experiments import experiment_keys
from aftersale.stores.models import Store
from aftersale.tracking.models import Event

_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED)
_COUNTS = ("delivered", "read", "replied", "bounced", "clicked", "unsubscribed")
_CENT = Decimal("0.01")
# The once-per-message keys of tracking's events (tracking.services._record_once).
_HUMAN_OPEN, _CLICK, _REPLY, _UNSUBSCRIBE = "open", "click:", "reply", "unsubscribe"


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
        **experiment_keys(flow=flow, definition=definition, now=now, since=since, until=until),
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
    recipients' opens (a person's, not a machine's), clicks, replies and unsubscribes
    (one message counts once for each)."""
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
    # Tracking records each of these at most once per message, under a key of the
    # message's (tracking.services: "open" for a person's open, "open:machine" for a
    # proxy's or a scanner's, which is no read; "click:<link>" once per link, "reply",
    # "unsubscribe"), so the counts come from the unique index on (message, key) alone,
    # without reading the events' rows; clicks count each message once.
    acted = (
        events.exclude(once_key="")
        .values_list("message__step_index")
        .annotate(
            read=Count("pk", filter=Q(once_key=_HUMAN_OPEN)),
            clicked=Count("message_id", filter=Q(once_key__startswith=_CLICK), distinct=True),
            replied=Count("pk", filter=Q(once_key=_REPLY)),
            unsubscribed=Count("pk", filter=Q(once_key=_UNSUBSCRIBE)),
        )
        .order_by()
    )
    actions = {
        row[0]: dict(zip(("read", "clicked", "replied", "unsubscribed"), row[1:], strict=True))
        for row in acted
    }
    templates = {i: s.template for i, s in enumerate(steps) if isinstance(s, EmailStep)}
    stats = {}
    for index in set(statuses) | set(actions):
        by_status, acts = statuses.get(index, {}), actions.get(index, {})
        stats[index] = MessageStats(
            template=templates.get(index, ""),
            sent=sum(by_status.get(status, 0) for status in _SENT),
            delivered=by_status.get(MessageStatus.DELIVERED, 0),
            bounced=by_status.get(MessageStatus.BOUNCED, 0),
            read=acts.get("read", 0),
            clicked=acts.get("clicked", 0),
            replied=acts.get("replied", 0),
            unsubscribed=acts.get("unsubscribed", 0),
        )
    return stats


def _purchase_sql(
    *,
    flow_ids: list[int],
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
    group: str,
    zone: str,
) -> tuple[str, list[Any]]:
    """SQL of the orders enrolled customers placed between entering a flow and leaving
    it (or `now`), one row per journey an order falls in, for the journeys of `flow_ids`
    started in [since, until): as `p` (flow_id, customer_id, day in `zone`, currency,
    total), then the statement `group` over it. It starts from the flows' journeys (their
    flow index) and finds each one's orders by the orders' (customer, placed_at) index."""
    enrollment, order = Enrollment._meta, Order._meta
    e = {f: _column(Enrollment, f) for f in ("flow", "customer", "entered_at", "ended_at")}
    o = {f: _column(Order, f) for f in ("customer", "placed_at", "currency", "total", "status")}
    day, day_params = connection.ops.datetime_cast_date_sql(f"o.{o['placed_at']}", (), zone)
    adapt = connection.ops.adapt_datetimefield_value
    conditions = [f"e.{e['flow']} IN ({', '.join(['%s'] * len(flow_ids))})"]
    params: list[Any] = [*day_params, adapt(now), *NOT_PURCHASES, *flow_ids]
    if since is not None:
        conditions.append(f"e.{e['entered_at']} >= %s")
        params.append(adapt(since))
    if until is not None:
        conditions.append(f"e.{e['entered_at']} < %s")
        params.append(adapt(until))
    sql = (
        f"WITH p AS (SELECT e.{e['flow']} AS flow_id, o.{o['customer']} AS customer_id, "
        f"{day} AS day, o.{o['currency']} AS currency, o.{o['total']} AS total "
        f"FROM {enrollment.db_table} e JOIN {order.db_table} o "
        f"ON o.{o['customer']} = e.{e['customer']} AND o.{o['placed_at']} > e.{e['entered_at']} "
        f"AND o.{o['placed_at']} <= COALESCE(e.{e['ended_at']}, %s) "
        f"AND o.{o['status']} NOT IN (%s, %s) "
        f"WHERE {' AND '.join(conditions)}) {group}"
    )
    assert len(NOT_PURCHASES) == 2  # the two %s of NOT IN above
    return sql, params


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return str(field.column)


def _money(value: object) -> Decimal:
    # SQLite adds decimals as floats: back to cents, exactly.
    return Decimal(str(value)).quantize(_CENT)


def _purchases(
    flow: Flow, now: dt.datetime, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[int, list[DayRevenue]]:
    """How many customers bought while in the flow, and the purchases by day (in the
    store's time zone) and currency: one statement."""
    sql, params = _purchase_sql(
        flow_ids=[flow.pk],
        now=now,
        since=since,
        until=until,
        zone=flow.store.time_zone,
        group="SELECT NULL, NULL, COUNT(DISTINCT customer_id), NULL FROM p UNION ALL "
        "SELECT day, currency, SUM(total), COUNT(*) FROM p GROUP BY day, currency",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    buyers = next(int(row[2]) for row in rows if row[0] is None)
    days = sorted(
        DayRevenue(
            date=day if isinstance(day, dt.date) else dt.date.fromisoformat(day),
            currency=currency,
            revenue=_money(revenue),
            orders=n,
        )
        for day, currency, revenue, n in rows
        if day is not None
    )
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
    sql, params = _purchase_sql(
        flow_ids=[flow.pk for flow in flows],
        now=now,
        since=None,
        until=None,
        zone="UTC",
        group="SELECT flow_id, NULL, COUNT(DISTINCT customer_id) FROM p GROUP BY flow_id "
        "UNION ALL SELECT flow_id, currency, SUM(total) FROM p GROUP BY flow_id, currency",
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
