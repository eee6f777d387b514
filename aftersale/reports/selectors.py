"""The flow report: how many started, left, finished and bought, and what each step and
message did (the numbers of seed 001's automation report)."""

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from aftersale.flows.definition import ABSplitStep, DelayStep, EmailStep, SplitStep
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.tracking.models import EventKind
from aftersale.tracking.selectors import human_open_filter

_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED)


@dataclass
class MessageStats:
    template: str
    sent: int = 0
    delivered: int = 0
    read: int = 0
    replied: int = 0
    bounced: int = 0
    clicked: int = 0
    unsubscribed: int = 0


@dataclass
class StepStats:
    index: int
    type: str
    label: str
    waiting: int
    progressed: int
    message: MessageStats | None = None


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

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["revenue"] = float(self.revenue)
        return data


def flow_report(*, flow: Flow, now: dt.datetime) -> FlowReport:
    """The report of `flow` as of `now`. Revenue is the total of the orders that enrolled
    customers placed while in the flow (after entering, up to leaving or `now`)."""
    enrollments = Enrollment.objects.filter(flow=flow)
    states = dict(enrollments.values_list("state").annotate(n=Count("pk")))
    started = sum(states.values())
    purchases = _purchases_in_flow(flow, now)
    buyers = purchases.values("customer_id").distinct().count()
    revenue = purchases.aggregate(total=Sum("total"))["total"] or Decimal("0")
    reasons = dict(
        enrollments.filter(state=EnrollmentState.EXITED)
        .values_list("exit_reason")
        .annotate(n=Count("pk"))
    )
    return FlowReport(
        flow=flow.slug,
        name=flow.name,
        started=started,
        exited_pct=_pct(states.get(EnrollmentState.EXITED, 0), started),
        completed_pct=_pct(states.get(EnrollmentState.COMPLETED, 0), started),
        purchased_pct=_pct(buyers, started),
        revenue=revenue.quantize(Decimal("0.01")),
        exit_reasons=reasons,
        steps=_step_stats(flow),
    )


def _purchases_in_flow(flow: Flow, now: dt.datetime):  # type: ignore[no-untyped-def]
    """Orders placed by enrolled customers between entering and leaving the flow."""
    return Order.objects.filter(
        customer__enrollments__flow=flow,
        placed_at__gt=F("customer__enrollments__entered_at"),
        placed_at__lte=Coalesce(F("customer__enrollments__ended_at"), now),
    ).exclude(status__in=NOT_PURCHASES)


def _step_stats(flow: Flow) -> list[StepStats]:
    definition = definition_of(latest_version(flow=flow).pk)
    progressed = _progressed_counts(flow, len(definition.steps))
    waiting = dict(
        Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE)
        .values_list("step_index")
        .annotate(n=Count("pk"))
    )
    messages = _message_stats(flow)
    steps = []
    for index, step in enumerate(definition.steps):
        steps.append(
            StepStats(
                index=index,
                type=step.type,
                label=_label(step),
                waiting=waiting.get(index, 0),
                progressed=progressed[index],
                message=_message_of(messages, index, step),
            )
        )
    return steps


def _progressed_counts(flow: Flow, steps: int) -> list[int]:
    """How many journeys went past each step (a journey that branched around a step did
    not), in one query: each step is a bit of Enrollment.passed_steps."""
    enrollments = Enrollment.objects.filter(flow=flow).annotate(
        **{f"bit{i}": F("passed_steps").bitand(1 << i) for i in range(steps)}
    )
    counts = enrollments.aggregate(
        **{f"step{i}": Count("pk", filter=Q(**{f"bit{i}__gt": 0})) for i in range(steps)}
    )
    return [counts[f"step{i}"] for i in range(steps)]


def _message_stats(flow: Flow) -> dict[int, MessageStats]:
    def events(kind: str) -> Count:
        return Count("events__message_id", filter=Q(events__kind=kind), distinct=True)

    rows = (
        Message.objects.filter(flow=flow, step_index__isnull=False)
        .values("step_index", "template__slug")
        .annotate(
            sent=Count("pk", filter=Q(status__in=_SENT), distinct=True),
            delivered=Count("pk", filter=Q(status=MessageStatus.DELIVERED), distinct=True),
            bounced=Count("pk", filter=Q(status=MessageStatus.BOUNCED), distinct=True),
            read=Count(
                "events__message_id", filter=human_open_filter(prefix="events__"), distinct=True
            ),
            clicked=events(EventKind.CLICKED),
            replied=events(EventKind.REPLIED),
            unsubscribed=events(EventKind.UNSUBSCRIBED),
        )
    )
    return {
        row["step_index"] or 0: MessageStats(
            template=row["template__slug"],
            **{
                k: row[k]
                for k in (
                    "sent",
                    "delivered",
                    "read",
                    "replied",
                    "bounced",
                    "clicked",
                    "unsubscribed",
                )
            },
        )
        for row in rows
    }


def _message_of(messages: dict[int, MessageStats], index: int, step: object) -> MessageStats | None:
    if not isinstance(step, EmailStep):
        return None
    return messages.get(index, MessageStats(template=step.template))


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
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
