"""When steps fall due: delays, weekday/time-of-day waits and quiet hours, all in the
customer's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aftersale.flows.definition import (
    WEEKDAYS,
    ABSplitStep,
    DelayStep,
    EmailStep,
    FlowDefinition,
    QuietHours,
    SplitStep,
    Weekday,
)
from aftersale.orders.models import Order
from aftersale.recommendations.selectors import replenishment_due_at

# How often a delay waiting for a delivery the store has not reported looks again.
DELIVERY_RECHECK = dt.timedelta(hours=6)


# How late an email may fall due at a journey's start and still count as on time: an
# order reported a few minutes after it was placed is not late.
OVERDUE_GRACE = dt.timedelta(hours=1)


def every_email_overdue(
    *, definition: FlowDefinition, entered_at: dt.datetime, now: dt.datetime, zone: ZoneInfo
) -> bool:
    """Whether a journey entering at `entered_at` (the trigger's moment) but started at
    `now` finds every email it could reach already due more than OVERDUE_GRACE ago: the
    trigger's moment plus the delays before each email (on every branch; each delay as
    the step before would end it, days and times in `zone`) is before `now` - grace. A
    delay that counts from a delivery or a restock cannot be known at entry: the emails
    after it are not overdue. False for a flow without email."""
    arrival: dict[int, dt.datetime | None] = {0: entered_at}
    latest: list[dt.datetime | None] = []
    for index, step in enumerate(definition.steps):
        if index not in arrival:
            continue
        at = arrival[index]
        targets = [step.next]
        if isinstance(step, EmailStep):
            latest.append(at)
        elif isinstance(step, DelayStep):
            fixed = step.relative_to == "previous_step"
            at = delay_end(step=step, previous=at, order=None, zone=zone) if at and fixed else None
        elif isinstance(step, SplitStep):
            targets = [step.then, step.otherwise]
        elif isinstance(step, ABSplitStep):
            targets = [variant.goto for variant in step.variants]
        else:
            continue  # an exit
        for target in targets:
            following = definition.index_of(target, after=index)
            if following >= len(definition.steps):
                continue
            if following not in arrival:
                arrival[following] = at
            else:
                before = arrival[following]
                arrival[following] = None if at is None or before is None else max(at, before)
    return bool(latest) and all(at is not None and at < now - OVERDUE_GRACE for at in latest)


def zone_named(name: str, *, fallback: str = "UTC") -> ZoneInfo:
    """The time zone `name`, or `fallback` when it is empty or unknown."""
    for candidate in (name, fallback, "UTC"):
        try:
            return ZoneInfo(candidate) if candidate else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def delay_end(
    *, step: DelayStep, previous: dt.datetime, order: Order | None, zone: ZoneInfo
) -> dt.datetime | None:
    """When a delay that starts at `previous` ends; None while it counts from a delivery
    that has not happened (and has no fallback) yet."""
    base = previous
    if step.relative_to == "delivery":
        delivered = _delivered_at(step, order)
        if delivered is None:
            return None
        base = max(previous, delivered + step.duration)
    elif step.relative_to == "replenishment_due":
        base = _restock_reminder_at(step, previous, order)
    else:
        base = previous + step.duration
    if step.weekdays or step.at is not None:
        base = next_weekday_time(moment=base, weekdays=step.weekdays, at=step.at, zone=zone)
    return base


def next_weekday_time(
    *, moment: dt.datetime, weekdays: tuple[Weekday, ...], at: dt.time | None, zone: ZoneInfo
) -> dt.datetime:
    """The first moment at or after `moment` that falls on one of `weekdays` (any day if
    empty) at local time `at` (the moment itself, or the day's start, if None)."""
    local = moment.astimezone(zone)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if weekdays and WEEKDAYS[day.weekday()] not in weekdays:
            continue
        if at is None:
            candidate = local if offset == 0 else _local(day, dt.time(0), zone)
        else:
            candidate = _local(day, at, zone)
        if candidate >= local:
            return candidate.astimezone(dt.UTC)
    raise AssertionError("a week always holds an allowed day")


def outside_quiet_hours(
    *, moment: dt.datetime, quiet: QuietHours | None, zone: ZoneInfo
) -> dt.datetime:
    """`moment`, or the end of the quiet hours it falls in (recipient's local time)."""
    if quiet is None or quiet.start == quiet.end:
        return moment
    local = moment.astimezone(zone)
    now_t = local.time()
    wraps = quiet.start > quiet.end  # e.g. 21:00-08:00 spans midnight
    inside = (
        (now_t >= quiet.start or now_t < quiet.end) if wraps else (quiet.start <= now_t < quiet.end)
    )
    if not inside:
        return moment
    day = local.date() + dt.timedelta(days=1 if wraps and now_t >= quiet.start else 0)
    return _local(day, quiet.end, zone).astimezone(dt.UTC)


def _delivered_at(step: DelayStep, order: Order | None) -> dt.datetime | None:
    if order is None:
        return None
    if order.delivered_at is not None:
        return order.delivered_at
    if step.fallback_days_after_fulfilled is not None and order.fulfilled_at is not None:
        return order.fulfilled_at + dt.timedelta(days=step.fallback_days_after_fulfilled)
    return None


def _restock_reminder_at(
    step: DelayStep, previous: dt.datetime, order: Order | None
) -> dt.datetime:
    """`lead_days` before the customer is next due to restock a product they bought (not
    before `previous`); the step's fixed duration when nothing they bought is due."""
    due = (
        replenishment_due_at(store=order.store, customer_id=order.customer_id, since=previous)
        if order is not None
        else None
    )
    if due is None:
        return previous + step.duration
    return max(previous, due - dt.timedelta(days=step.lead_days))


def _local(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=zone)
