"""Background runs: the moves between their statuses, and one worker per run."""

from __future__ import annotations

import datetime as dt

import pytest

from aftersale.integrations.models import ImportKind, ImportRun
from aftersale.lib.runs import (
    STALE_AFTER,
    STALE_REASON,
    InvalidTransition,
    RunStatus,
    check_move,
    claim_next,
    claim_run,
    fail_stale_runs,
    finish_run,
)
from aftersale.stores.models import Store
from conftest import T0


def _run(store: Store, **fields: object) -> ImportRun:
    return ImportRun.objects.create(
        store=store,
        kind=ImportKind.ORDERS,
        file_path="/nowhere.csv",
        file_name="orders.csv",
        size=10,
        created_at=T0,
        **fields,
    )


def test_a_run_moves_forward_only_and_an_ended_run_never_moves() -> None:
    check_move(RunStatus.QUEUED, RunStatus.RUNNING)
    check_move(RunStatus.RUNNING, RunStatus.DONE)
    check_move(RunStatus.RUNNING, RunStatus.FAILED)
    for current, new in [
        (RunStatus.RUNNING, RunStatus.QUEUED),
        (RunStatus.DONE, RunStatus.RUNNING),
        (RunStatus.FAILED, RunStatus.DONE),
        (RunStatus.QUEUED, RunStatus.DONE),
    ]:
        with pytest.raises(InvalidTransition):
            check_move(current, new)


def test_only_one_claim_of_a_queued_run_wins(store: Store) -> None:
    run = _run(store)
    assert claim_run(ImportRun, pk=run.pk, now=T0)
    assert not claim_run(ImportRun, pk=run.pk, now=T0)
    run.refresh_from_db()
    assert (run.status, run.started_at) == (RunStatus.RUNNING, T0)


def test_the_oldest_queued_run_is_claimed_first_and_none_when_nothing_is_queued(
    store: Store,
) -> None:
    first, second = _run(store), _run(store)
    assert claim_next(ImportRun, now=T0) == first
    assert claim_next(ImportRun, now=T0) == second
    assert claim_next(ImportRun, now=T0) is None


def test_a_run_running_for_more_than_six_hours_is_failed_with_the_reason(store: Store) -> None:
    stale = _run(store, status=RunStatus.RUNNING, started_at=T0 - STALE_AFTER - dt.timedelta(1))
    recent = _run(store, status=RunStatus.RUNNING, started_at=T0 - dt.timedelta(hours=5))
    assert fail_stale_runs(ImportRun, now=T0) == 1
    stale.refresh_from_db()
    recent.refresh_from_db()
    assert (stale.status, stale.error, stale.finished_at) == (RunStatus.FAILED, STALE_REASON, T0)
    assert recent.status == RunStatus.RUNNING
    # Its worker coming back to it finds it ended and writes nothing.
    assert not finish_run(ImportRun, pk=stale.pk, status=RunStatus.DONE, now=T0, rows_good=3)
    stale.refresh_from_db()
    assert (stale.status, stale.rows_good) == (RunStatus.FAILED, 0)


def test_finishing_a_run_refuses_a_status_that_is_no_end(store: Store) -> None:
    run = _run(store, status=RunStatus.RUNNING, started_at=T0)
    with pytest.raises(InvalidTransition):
        finish_run(ImportRun, pk=run.pk, status=RunStatus.QUEUED, now=T0)
    assert finish_run(ImportRun, pk=run.pk, status=RunStatus.DONE, now=T0)
