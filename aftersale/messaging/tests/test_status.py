"""The outbox's status table: every move a service makes is one it allows."""

from __future__ import annotations

import pytest

from aftersale.messaging.models import MessageStatus
from aftersale.messaging.outbox.status import (
    NEXT_STATUSES,
    InvalidTransition,
    check_transition,
    statuses_before,
)

ENDS = (MessageStatus.BOUNCED, MessageStatus.FAILED, MessageStatus.SKIPPED)


def test_every_status_has_a_row_in_the_table():
    assert set(NEXT_STATUSES) == set(MessageStatus)


@pytest.mark.parametrize("outcome", [s for s in MessageStatus if s != MessageStatus.QUEUED])
def test_the_sender_may_end_a_queued_message_in_any_outcome(outcome):
    check_transition(MessageStatus.QUEUED, outcome)


@pytest.mark.parametrize("end", ENDS)
@pytest.mark.parametrize("new", list(MessageStatus))
def test_nothing_moves_a_message_that_ended(end, new):
    with pytest.raises(InvalidTransition, match=f"a {end} message cannot become {new}"):
        check_transition(end, new)


def test_a_late_delivery_report_never_undoes_a_bounce_but_a_late_bounce_counts():
    check_transition(MessageStatus.DELIVERED, MessageStatus.BOUNCED)
    with pytest.raises(InvalidTransition):
        check_transition(MessageStatus.BOUNCED, MessageStatus.DELIVERED)


def test_nothing_goes_back_to_queued():
    for status in MessageStatus:
        with pytest.raises(InvalidTransition):
            check_transition(status, MessageStatus.QUEUED)


def test_reports_move_only_messages_that_were_handed_over():
    assert statuses_before(MessageStatus.DELIVERED, reported=True) == (MessageStatus.SENT,)
    assert statuses_before(MessageStatus.BOUNCED, reported=True) == (
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
    )
    assert statuses_before(MessageStatus.SKIPPED, reported=True) == ()
    assert MessageStatus.QUEUED in statuses_before(MessageStatus.DELIVERED)
