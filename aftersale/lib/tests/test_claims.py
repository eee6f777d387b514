"""Leases on rows: claims never overlap, dead workers' rows come back, and a release
only counts while the lease is still ours. Shown on outbox rows; enrollments use the
same functions (flows' test_scheduler and the crash test show them under load)."""

from __future__ import annotations

import datetime as dt

import pytest

from aftersale.lib.claims import LeaseLost, claim_rows, free_at, release_row
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message
from aftersale.messaging.tests.factories import make_scenario
from aftersale.stores.models import Store

LEASE = dt.timedelta(minutes=5)


@pytest.fixture
def queued(store: Store, clock: VirtualClock) -> list[Message]:
    scenario = make_scenario(store, now=clock.now())
    return [scenario.message("thank-you", now=clock.now()) for _ in range(5)]


def _claim(token: str, *, now: dt.datetime, limit: int = 3) -> list[int]:
    due = Message.objects.filter(free_at(now)).order_by("id")
    return sorted(
        claim_rows(due, limit=limit, token=token, until=now + LEASE).values_list("pk", flat=True)
    )


def test_two_claims_at_the_same_moment_get_disjoint_rows(queued, clock):
    first = _claim("a", now=clock.now())
    second = _claim("b", now=clock.now())

    assert first == [m.pk for m in queued[:3]]
    assert second == [m.pk for m in queued[3:]]


def test_rows_of_a_lease_that_ran_out_can_be_claimed_again(queued, clock):
    held = _claim("dead", now=clock.now(), limit=5)
    assert _claim("other", now=clock.now() + LEASE / 2) == []

    assert _claim("other", now=clock.now() + LEASE * 2, limit=5) == held


def test_a_release_writes_and_frees_the_row_while_the_lease_is_ours(queued, clock):
    (pk,) = _claim("a", now=clock.now(), limit=1)

    release_row(Message, pk=pk, token="a", error="done")

    row = Message.objects.get(pk=pk)
    assert (row.error, row.claimed_by, row.claimed_until) == ("done", "", None)


def test_a_release_after_another_worker_took_the_row_over_is_refused(queued, clock):
    (pk,) = _claim("slow", now=clock.now(), limit=1)
    assert _claim("fast", now=clock.now() + LEASE * 2, limit=1) == [pk]

    with pytest.raises(LeaseLost, match=f"messaging.Message {pk} was taken over"):
        release_row(Message, pk=pk, token="slow", error="late")
    assert Message.objects.get(pk=pk).error == ""
