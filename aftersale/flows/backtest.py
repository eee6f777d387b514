"""Running a flow over the store's past orders in virtual time."""

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Min

from aftersale.clock import VirtualClock
from aftersale.flows.models import Enrollment, EnrollmentState, Flow
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import process_orders
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import Order

Deliver = Callable[[dt.datetime], int]


@dataclass
class BacktestSummary:
    """What a backtest did."""

    orders_replayed: int = 0
    enrolled: int = 0
    messages_queued: int = 0
    messages_delivered: int = 0
    ticks: int = 0


def run_backtest(
    *,
    flow: Flow,
    start: dt.datetime,
    end: dt.datetime,
    clock: VirtualClock,
    tick: dt.timedelta = dt.timedelta(hours=1),
    deliver: Deliver | None = None,
    on_tick: Callable[[dt.datetime], None] | None = None,
) -> BacktestSummary:
    """Replay the store's orders placed in (start, end] through `flow` as if it had been
    live, advancing `clock` a tick at a time, then keep ticking until every journey it
    started has ended. `deliver(now)` sends what the flow queued and returns how many."""
    placed = list(
        Order.objects.filter(store_id=flow.store_id, placed_at__gt=start, placed_at__lte=end)
        .order_by("placed_at", "pk")
        .values_list("placed_at", "pk")
    )
    times = [p[0] for p in placed]
    summary = BacktestSummary(orders_replayed=len(placed))
    clock.set(start)
    previous = clock.now()
    while previous < end or _journeys_in_flight(flow):
        now = clock.advance(max(tick, _until_next_event(flow, times, previous) - previous))
        window = placed[bisect.bisect_right(times, previous) : bisect.bisect_right(times, now)]
        if window:
            summary.enrolled += len(
                process_orders(
                    store=flow.store, order_ids=[pk for _, pk in window], now=now, flows=[flow]
                )
            )
        summary.messages_queued += _run_scheduler(flow, now)
        if deliver is not None:
            summary.messages_delivered += deliver(now)
        summary.ticks += 1
        previous = now
        if on_tick is not None:
            on_tick(now)
    return summary


def _run_scheduler(flow: Flow, now: dt.datetime) -> int:
    queued = 0
    while (result := run_due_enrollments(now=now, store=flow.store)).claimed:
        queued += result.messages_queued
    return queued


def _until_next_event(flow: Flow, order_times: list[dt.datetime], now: dt.datetime) -> dt.datetime:
    """The earliest moment after `now` when anything can happen: an order is placed, a
    journey's step falls due or a queued email may go out. Idle hours are skipped."""
    following = bisect.bisect_right(order_times, now)
    upcoming = order_times[following : following + 1]
    due = Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE).aggregate(
        at=Min("due_at")
    )["at"]
    send = Message.objects.filter(flow=flow, status=MessageStatus.QUEUED).aggregate(
        at=Min("send_after")
    )["at"]
    moments = [m for m in (*upcoming, due, send) if m is not None]
    return min(moments) if moments else now


def _journeys_in_flight(flow: Flow) -> bool:
    return Enrollment.objects.filter(flow=flow, state=EnrollmentState.ACTIVE).exists()
