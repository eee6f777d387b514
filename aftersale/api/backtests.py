"""Backtests: start one for a flow over the last N days (run in the background by the
worker, as from the dashboard's Backtest page), then poll it for its progress and result."""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Schema, Status

from aftersale.api.auth import request_store
from aftersale.api.errors import found
from aftersale.api.read_schemas import READ_ERRORS
from aftersale.api.routes import router
from aftersale.flows.backtest_runs import DAYS_DEFAULT, DAYS_MAX, backtest_run, queue_backtest
from aftersale.flows.models import BacktestRun
from aftersale.flows.selectors import flow_by_slug
from aftersale.lib import clock
from aftersale.lib.runs import RunStatus

TAGS = ["backtests"]


class BacktestIn(Schema):
    days: int = Field(
        DAYS_DEFAULT, ge=1, le=DAYS_MAX, description="replay the orders of the last N days"
    )


class BacktestOut(Schema):
    """A backtest: `progress` from 0 to 1 while it runs; once done, `result` holds per
    email step what would have been sent and to how many, and the purchases that followed
    with their revenue per currency (see docs/dashboard.md)."""

    id: int
    flow: str
    days: int
    status: RunStatus
    progress: float
    result: dict[str, Any] | None
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def _out(run: BacktestRun) -> BacktestOut:
    return BacktestOut(
        id=run.pk,
        flow=run.flow.slug,
        days=run.days,
        status=RunStatus(run.status),
        progress=run.progress,
        result=run.result,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


@router.post("/flows/{slug}/backtests", response={202: BacktestOut, **READ_ERRORS}, tags=TAGS)
def start_backtest(request: HttpRequest, slug: str, backtest: BacktestIn) -> Status[BacktestOut]:
    """Queue a backtest of the flow (draft, live or paused) over the last `days` days:
    202 with the run, queued; the worker runs it in virtual time on a throwaway copy of
    the data, so nothing is sent and nothing of the store changes. Poll
    GET /backtests/{id}."""
    flow = found(
        flow_by_slug(store=request_store(request), slug=slug),
        loc=["path", "slug"],
        what="such flow",
    )
    run = queue_backtest(flow=flow, days=backtest.days, now=clock.now())
    return Status(202, _out(run))


@router.get("/backtests/{backtest_id}", response={200: BacktestOut, **READ_ERRORS}, tags=TAGS)
def get_backtest(request: HttpRequest, backtest_id: int) -> BacktestOut:
    """One backtest of the store's: its status, progress and, once done, its result."""
    run = backtest_run(store=request_store(request), run_id=backtest_id)
    return _out(found(run, loc=["path", "backtest_id"], what="such backtest"))
