"""Running a flow over the store's past orders and events in virtual time."""

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Min

from aftersale.flows.definition import TIMED_EVENTS
from aftersale.flows.engagement import Engagement, add_engagement_orders
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.services import enroll_timed_occasions, process_events, process_orders
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.outbox.selectors import next_send_at
from aftersale.orders.models import Order
from aftersale.tracking.models import Event, EventKind

Deliver = Callable[[dt.datetime], int]


@dataclass
class BacktestSummary:
    """What a backtest did."""

    orders_replayed: int = 0
    enrolled: int = 0
    messages_queued: int = 0
    messages_delivered: int = 0
    ticks: int = 0
    # The extra orders a simulated `Engagement` added for recipients (flows.engagement).
    engagement_orders: int = 0


def run_backtest(
    *,
    flow: Flow,
    start: dt.datetime,
    end: dt.datetime,
    clock: VirtualClock,
    tick: dt.timedelta = dt.timedelta(hours=1),
    deliver: Deliver | None = None,
    on_tick: Callable[[dt.datetime], None] | None = None,
    engagement: Engagement | None = None,
) -> BacktestSummary:
    """Replay the store's orders placed and events posted in (start, end] through `flow`
    as if it had been live, advancing `clock` a tick at a time (idle hours skipped, unless
    the flow's trigger is timed: its occasions are looked for every tick, as a worker
    would), then keep ticking until every journey it started has ended. `deliver(now)`
    sends what the flow queued and returns how many. With `engagement`, once every journey
    has ended the recipients it draws as buyers get their extra order (flows.engagement:
    a known effect for the holdout comparison to recover; the flow never sees it)."""
    placed = list(
        Order.objects.filter(store_id=flow.store_id, placed_at__gt=start, placed_at__lte=end)
        .order_by("placed_at", "pk")
        .values_list("placed_at", "pk")
    )
    posted = list(
        Event.objects.filter(
            store_id=flow.store_id,
            kind__in=(EventKind.PRODUCT_VIEWED, EventKind.CUSTOM),
            occurred_at__gt=start,
            occurred_at__lte=end,
        )
        .order_by("occurred_at", "pk")
        .values_list("occurred_at", "pk")
    )
    times = [p[0] for p in placed]
    event_times = [e[0] for e in posted]
    timed = definition_of(latest_version(flow=flow).pk).trigger.event in TIMED_EVENTS
    summary = BacktestSummary(orders_replayed=len(placed))
    clock.set(start)
    previous = clock.now()
    while previous < end or _journeys_in_flight(flow):
        step = tick
        if not timed:
            step = max(tick, _until_next_event(flow, (times, event_times), previous) - previous)
        now = clock.advance(step)
        window = placed[bisect.bisect_right(times, previous) : bisect.bisect_right(times, now)]
        if window:
            summary.enrolled += len(
                process_orders(
                    store=flow.store, order_ids=[pk for _, pk in window], now=now, flows=[flow]
                )
            )
        events = posted[
            bisect.bisect_right(event_times, previous) : bisect.bisect_right(event_times, now)
        ]
        if events:
            summary.enrolled += len(
                process_events(
                    store=flow.store, event_ids=[pk for _, pk in events], now=now, flows=[flow]
                )
            )
        if timed and previous < end:
            summary.enrolled += enroll_timed_occasions(now=now, flows=[flow])
        summary.messages_queued += _run_scheduler(flow, now)
        if deliver is not None:
            summary.messages_delivered += deliver(now)
        summary.ticks += 1
        previous = now
        if on_tick is not None:
            on_tick(now)
    if engagement is not None:
        summary.engagement_orders = add_engagement_orders(
            flow=flow, engagement=engagement, now=clock.now()
        )
    return summary


def _run_scheduler(flow: Flow, now: dt.datetime) -> int:
    queued = 0
    while (result := run_due_enrollments(now=now, store=flow.store, flow=flow)).claimed:
        queued += result.messages_queued
    return queued


def _until_next_event(
    flow: Flow, timelines: tuple[list[dt.datetime], ...], now: dt.datetime
) -> dt.datetime:
    """The earliest moment after `now` when anything can happen: an order is placed or
    an event posted (`timelines`, each sorted), a journey's step falls due or a queued
    email may go out. Idle hours are skipped."""
    upcoming = [t[i] for t in timelines if (i := bisect.bisect_right(t, now)) < len(t)]
    due = Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE).aggregate(
        at=Min("due_at")
    )["at"]
    send = next_send_at(flow_id=flow.pk)
    moments = [m for m in (*upcoming, due, send) if m is not None]
    return min(moments) if moments else now


def _journeys_in_flight(flow: Flow) -> bool:
    return Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE).exists()
