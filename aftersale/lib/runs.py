"""Background runs (a CSV import, a backtest): their statuses, the moves between them,
and claiming a queued run for one worker.

A run is queued by the page or API call that asks for it, claimed by exactly one worker
(a conditional UPDATE ... WHERE status='queued' that must hit exactly one row, so two
workers never run the same one), then ends done or failed. A run left `running` by a
worker that died is marked failed by the next worker once STALE_AFTER has passed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)

# A run still running after this long lost its worker (killed, or the machine restarted).
STALE_AFTER = dt.timedelta(hours=6)
STALE_REASON = "the worker running it stopped (still running after 6 hours): start it again"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# Which status may follow which: a run never goes back, and an ended run never moves.
MOVES: dict[str, frozenset[str]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.DONE, RunStatus.FAILED}),
    RunStatus.DONE: frozenset(),
    RunStatus.FAILED: frozenset(),
}
ENDED = frozenset({RunStatus.DONE, RunStatus.FAILED})


class InvalidTransition(ValueError):
    """A run asked to move to a status that may not follow its own."""


def check_move(current: str, new: str) -> None:
    """Raise InvalidTransition unless a run in status `current` may move to `new`."""
    if new not in MOVES.get(current, frozenset()):
        raise InvalidTransition(f"a run that is {current} cannot become {new}")


def claim_run(model: type[M], *, pk: Any, now: dt.datetime, **fields: Any) -> bool:
    """Move run `pk` of `model` from queued to running (started at `now`, with `fields`)
    only if it is still queued: a conditional UPDATE that must hit exactly one row.
    True when this caller won the run, False when another worker (or a cancel) got to it
    first."""
    updated = model._default_manager.filter(pk=pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, **fields
    )
    return updated == 1


def claim_next(model: type[M], *, now: dt.datetime, **fields: Any) -> M | None:
    """Claim the oldest queued run of `model` (see claim_run) and return it, running;
    None when nothing is queued. A run another worker claims between the read and the
    UPDATE is skipped for the next one."""
    queued = model._default_manager.filter(status=RunStatus.QUEUED).order_by("pk")
    for pk in queued.values_list("pk", flat=True)[:5]:
        if claim_run(model, pk=pk, now=now, **fields):
            return model._default_manager.get(pk=pk)
    return None


def fail_stale_runs(model: type[M], *, now: dt.datetime) -> int:
    """Mark failed, with STALE_REASON, every run of `model` running since before
    `now` - STALE_AFTER (its worker died); return how many."""
    return model._default_manager.filter(
        status=RunStatus.RUNNING, started_at__lt=now - STALE_AFTER
    ).update(status=RunStatus.FAILED, error=STALE_REASON, finished_at=now)


def finish_run(
    model: type[M], *, pk: Any, status: RunStatus, now: dt.datetime, **fields: Any
) -> bool:
    """End running run `pk` as `status` (done or failed) at `now`, writing `fields`;
    raises InvalidTransition for a status that may not follow running. False (nothing
    written) when the run is no longer running, e.g. marked failed as stale meanwhile."""
    check_move(RunStatus.RUNNING, status)
    updated = model._default_manager.filter(pk=pk, status=RunStatus.RUNNING).update(
        status=status, finished_at=now, **fields
    )
    return updated == 1
