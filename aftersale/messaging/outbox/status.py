"""The life of an outbox row in one table: which status may follow which.

A message is created queued (or skipped, when a guard decided against it at once). The
sender moves a queued message to what the relay answered; an email service's later
reports move a handed-over message on (delivered, bounced, failed). Nothing undoes an
end: ESPs do not report in order, so a late "delivered" never revives a bounce. Every
service that changes a status asks this table first and refuses any other move.
"""

from __future__ import annotations

from aftersale.messaging.models import MessageStatus

Q, S, D, B, F, K = (
    MessageStatus.QUEUED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.BOUNCED,
    MessageStatus.FAILED,
    MessageStatus.SKIPPED,
)

# status -> the statuses it may move to
NEXT_STATUSES: dict[MessageStatus, frozenset[MessageStatus]] = {
    Q: frozenset({S, D, B, F, K}),
    S: frozenset({D, B, F}),
    D: frozenset({B}),
    B: frozenset(),
    F: frozenset(),
    K: frozenset(),
}
# Only the sender moves a queued message: a report (an email service's webhook) is
# about an email it was handed, and one naming a queued message is refused.
REPORTABLE_FROM = frozenset({S, D})


class InvalidTransition(ValueError):
    """A status change the table does not allow."""


def check_transition(current: str, new: str) -> None:
    """Return if a message in `current` may move to `new`; raise InvalidTransition
    naming both otherwise."""
    if MessageStatus(new) not in NEXT_STATUSES[MessageStatus(current)]:
        raise InvalidTransition(f"a {current} message cannot become {new}")


def statuses_before(new: MessageStatus, *, reported: bool = False) -> tuple[MessageStatus, ...]:
    """Every status from which a message may move to `new` (with `reported`, by an
    email service's report), in table order: the condition of an UPDATE that must not
    race another writer."""
    return tuple(
        status
        for status, nexts in NEXT_STATUSES.items()
        if new in nexts and (not reported or status in REPORTABLE_FROM)
    )
