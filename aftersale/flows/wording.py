"""A flow definition in words, as the dashboard shows it: its steps on one line, and for
every step how long after the trigger it runs ("sent 3 days 2 hours after the first
purchase"), following every path the splits allow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from aftersale.flows.definition import (
    ABSplitStep,
    DelayStep,
    EmailStep,
    ExitStep,
    SplitStep,
    Step,
    Weekday,
)

# What the clock of a journey starts from, per trigger event.
TRIGGER_MOMENTS = {
    "first_purchase": "the first purchase",
    "any_purchase": "the purchase",
    "order_fulfilled": "the order was fulfilled",
    "order_delivered": "the order was delivered",
    "product_purchased": "the purchase",
    "category_purchased": "the purchase",
    "product_viewed": "the product view",
    "custom": "the event",
    "checkout_abandoned": "the checkout was abandoned",
    "birthday": "the birthday starts",
    "first_order_anniversary": "the anniversary starts",
    "customer_dormant": "the customer became dormant",
}
_DAY_NAMES: dict[Weekday, str] = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
# More different paths into one step than this are summed up as "depending on the path".
_MAX_PATHS = 3


def duration_words(duration: dt.timedelta) -> str:
    """A duration as a merchant says it: "3 days 2 hours", "1 hour 30 minutes", "no time"."""
    minutes = round(duration.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if n
    ]
    return " ".join(parts) or "no time"


@dataclass(frozen=True)
class _Moment:
    """A moment of a journey: `offset` after `anchor`, or `exact` (words) when no offset."""

    anchor: str
    offset: dt.timedelta = dt.timedelta(0)
    exact: str = ""

    def words(self) -> str:
        if not self.offset:
            return self.exact or f"right after {self.anchor}"
        return f"{duration_words(self.offset)} after {self.anchor}"


def _after_delay(moment: _Moment, step: DelayStep) -> _Moment:
    if step.relative_to == "delivery":
        anchor = "the delivery"
        if step.fallback_days_after_fulfilled is not None:
            days = step.fallback_days_after_fulfilled
            anchor += (
                f" (or {days} day{'' if days == 1 else 's'} after fulfilment"
                " when no delivery is reported)"
            )
        moment = _Moment(anchor, step.duration)
    elif step.relative_to == "replenishment_due":
        lead = duration_words(dt.timedelta(days=step.lead_days))
        exact = (
            f"{lead} before the customer is due to restock"
            if step.lead_days
            else "when the customer is due to restock"
        )
        moment = _Moment("the restock reminder day", exact=exact)
    else:
        moment = _Moment(moment.anchor, moment.offset + step.duration, moment.exact)
    if step.weekdays or step.at is not None:
        moment = _Moment("that moment", exact=f"on {_weekday_words(step)} from {moment.words()}")
    return moment


def _weekday_words(step: DelayStep) -> str:
    days = [_DAY_NAMES[d] for d in step.weekdays]
    named = (", ".join(days[:-1]) + " or " + days[-1]) if len(days) > 1 else "".join(days)
    at = f" at {step.at:%H:%M}" if step.at is not None else ""
    return f"the first {named}{at}" if named else f"the first {step.at:%H:%M}"


def _successors(index: int, step: Step, ids: dict[str, int], count: int) -> list[int]:
    def target(step_id: str) -> int:
        return ids.get(step_id, index + 1) if step_id else index + 1

    if isinstance(step, ExitStep):
        return []
    if isinstance(step, SplitStep):
        found = [target(step.then), target(step.otherwise)]
    elif isinstance(step, ABSplitStep):
        found = [target(v.goto) for v in step.variants]
    else:
        found = [target(step.next)]
    return [i for i in dict.fromkeys(found) if index < i < count]


def step_moments(*, trigger_event: str, steps: Sequence[Step | None]) -> list[str]:
    """For every step (None: a step that does not validate yet), when it runs (a delay:
    when its wait ends), in words from the trigger ("3 days 2 hours after the first
    purchase"); a step that some path
    reaches at different times lists them ("... or ..."); "" for a step no path reaches
    or whose timing is unknown because a step before it does not validate."""
    start = TRIGGER_MOMENTS.get(trigger_event, "the trigger")
    ids = {s.id: i for i, s in enumerate(steps) if s is not None and s.id}
    reaching: list[list[_Moment] | None] = [[] for _ in steps]
    shown: list[list[_Moment] | None] = [None for _ in steps]
    if steps:
        reaching[0] = [_Moment(start)]
    for index, step in enumerate(steps):
        if step is None:
            # What comes after a step that does not validate cannot be timed yet.
            reaching[index + 1 :] = [None] * (len(steps) - index - 1)
            break
        moments = reaching[index] or []
        after = [_after_delay(m, step) for m in moments] if isinstance(step, DelayStep) else moments
        shown[index] = after
        for successor in _successors(index, step, ids, len(steps)):
            into = reaching[successor]
            if into is not None:
                into.extend(m for m in after if m not in into)
    return [_phrase(moments) for moments in shown]


def _phrase(moments: list[_Moment] | None) -> str:
    if not moments:
        return ""
    if len(moments) > _MAX_PATHS:
        return "at different times depending on the path"
    return " or ".join(m.words() for m in moments)


def step_words(step: Step) -> str:
    """One step in a few words: "wait 3 days", "email thank-you", "split: opened"."""
    if isinstance(step, DelayStep):
        if step.relative_to == "delivery":
            words = f"wait {duration_words(step.duration)} after delivery"
        elif step.relative_to == "replenishment_due":
            lead = duration_words(dt.timedelta(days=step.lead_days))
            words = (
                f"wait until {lead} before the restock is due"
                if step.lead_days
                else ("wait until the restock is due")
            )
        else:
            words = f"wait {duration_words(step.duration)}"
        if step.weekdays:
            words += f" then {_weekday_words(step)}"
        elif step.at is not None:
            words += f", then {step.at:%H:%M}"
        return words
    if isinstance(step, EmailStep):
        return f"email “{step.template}”" + (" with a coupon" if step.coupon == "issue" else "")
    if isinstance(step, SplitStep):
        return f"split on {step.condition.kind.replace('_', ' ')}"
    if isinstance(step, ABSplitStep):
        return "A/B split " + "/".join(str(v.weight) for v in step.variants)
    return "exit"


def steps_line(steps: Sequence[Step]) -> str:
    """All of a flow's steps on one line, joined by arrows."""
    return " → ".join(step_words(s) for s in steps)
