"""Backtests run in the background: a merchant (dashboard or API) queues one for a flow
over the store's last N days, a worker (worker.jobs) claims and runs it, the page polls
its progress and reads its result.

Nothing is really sent and the store's data does not change: the backtest replays a copy
of the flow (so journeys of the real flow, live or not, play no part) inside a throwaway
database (lib.scratch: a SQLite snapshot, or a PostgreSQL transaction rolled back), in
virtual time on a clock of the worker's thread only. What it would have sent is read
from the throwaway before it goes; its progress is written to the real database, where
the polling page sees it while the backtest is under way.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from aftersale.flows.backtest import BacktestSummary, run_backtest
from aftersale.flows.models import BacktestRun, Flow, FlowStatus
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.services import install_flow
from aftersale.lib.clock import VirtualClock, use_clock_in_this_thread
from aftersale.lib.runs import RunStatus, finish_run
from aftersale.lib.scratch import Throwaway, throwaway_database
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)

DAYS_DEFAULT = 90
DAYS_MAX = 3650
# A run's progress is written at most this often (seconds).
PROGRESS_EVERY = 0.5


class InvalidBacktest(ValueError):
    """A backtest that cannot be queued; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def queue_backtest(*, flow: Flow, days: int, now: dt.datetime) -> BacktestRun:
    """Queue a backtest of `flow` (draft, live or paused) over the `days` days before it
    runs. Raises InvalidBacktest (field "days") unless 1 <= days <= DAYS_MAX."""
    if not 1 <= days <= DAYS_MAX:
        raise InvalidBacktest(f"choose between 1 and {DAYS_MAX:,} days", field="days")
    return BacktestRun.objects.create(store=flow.store, flow=flow, days=days, created_at=now)


def backtest_runs(*, flow: Flow, limit: int = 10) -> QuerySet[BacktestRun]:
    """The flow's latest `limit` backtests, newest first."""
    return BacktestRun.objects.filter(flow=flow).order_by("-created_at", "-pk")[:limit]


def backtest_run(*, store: Store, run_id: int) -> BacktestRun | None:
    """Backtest `run_id` if it is one of `store`'s, else None."""
    return BacktestRun.objects.filter(store=store, pk=run_id).select_related("flow").first()


def run_queued_backtest(
    *, run: BacktestRun, directory: Path, now: Callable[[], dt.datetime]
) -> BacktestRun:
    """Run backtest `run` (claimed: running) over the `run.days` days before `now()` and
    end it: done with its result (`backtest_result`), or failed with the reason. The
    throwaway database is made in `directory`."""
    end = now()
    start = end - dt.timedelta(days=run.days)
    try:
        with throwaway_database(directory=directory) as throwaway:
            result = _replay(run, start=start, end=end, throwaway=throwaway)
    except Exception as error:
        logger.exception("backtest %s failed", run.pk)
        finish_run(
            BacktestRun,
            pk=run.pk,
            status=RunStatus.FAILED,
            now=now(),
            error=f"the backtest stopped on an unexpected error: {error}",
        )
    else:
        finish_run(
            BacktestRun, pk=run.pk, status=RunStatus.DONE, now=now(), progress=1.0, result=result
        )
    # Versions made in the throwaway are gone: no id of theirs may stay cached.
    definition_of.cache_clear()
    run.refresh_from_db()
    return run


def _replay(
    run: BacktestRun, *, start: dt.datetime, end: dt.datetime, throwaway: Throwaway
) -> dict[str, Any]:
    flow = Flow.objects.select_related("store").get(pk=run.flow_id)
    version = latest_version(flow=flow)
    clock = VirtualClock(start)
    written = [time.monotonic()]

    def on_tick(moment: dt.datetime) -> None:
        if time.monotonic() - written[0] < PROGRESS_EVERY:
            return
        written[0] = time.monotonic()
        done = min(max((moment - start) / (end - start), 0.0), 0.99)
        with throwaway.outside():
            BacktestRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(progress=done)

    with use_clock_in_this_thread(clock):
        copy = install_flow(
            store=flow.store,
            slug=f"backtest-{uuid.uuid4().hex[:12]}",
            definition=version.definition,
            now=start,
            status=FlowStatus.LIVE,
        )
        summary = run_backtest(flow=copy, start=start, end=end, clock=clock, on_tick=on_tick)
        return backtest_result(flow=copy, summary=summary, start=start, end=end)


def backtest_result(
    *, flow: Flow, summary: BacktestSummary, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """What the backtest of `flow` over (start, end] would have done, as JSON: per email
    step the emails it would have sent (and skipped, by reason) and to how many customers, and the
    purchases that followed: orders (neither cancelled nor refunded) those customers
    placed after that email would have gone out, up to `end`, with their revenue per
    currency (amounts in different currencies are never added)."""
    definition = definition_of(latest_version(flow=flow).pk)
    messages = list(
        Message.objects.filter(flow=flow, step_index__isnull=False).values_list(
            "customer_id", "step_index", "send_after", "status", "skip_reason"
        )
    )
    first_email: dict[int, dt.datetime] = {}
    per_step: dict[int, dict[int, dt.datetime]] = defaultdict(dict)
    skipped: dict[int, int] = defaultdict(int)
    reasons: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sent: dict[int, int] = defaultdict(int)
    for customer_id, index, send_after, status, reason in messages:
        step_index = index or 0  # not null: filtered above
        if status == MessageStatus.SKIPPED:
            skipped[step_index] += 1
            reasons[step_index][reason or "unrecorded"] += 1
            continue
        sent[step_index] += 1
        at = per_step[step_index].get(customer_id)
        per_step[step_index][customer_id] = min(at, send_after) if at else send_after
        first = first_email.get(customer_id)
        first_email[customer_id] = min(first, send_after) if first else send_after
    orders = _orders_after(flow, first_email, end)
    steps = []
    for index, step in definition.email_steps():
        recipients = per_step.get(index, {})
        steps.append(
            {
                "index": index,
                "id": step.id,
                "template": step.template,
                "sent": sent.get(index, 0),
                "skipped": skipped.get(index, 0),
                "skipped_by_reason": dict(sorted(reasons.get(index, {}).items())),
                "recipients": len(recipients),
                "purchases": _purchases(orders, recipients),
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "orders_replayed": summary.orders_replayed,
        "enrolled": summary.enrolled,
        "emails": sum(sent.values()),
        "recipients": len(first_email),
        "steps": steps,
        "purchases": _purchases(orders, first_email),
    }


_OrderRow = tuple[int, int, dt.datetime, Decimal, str]


def _orders_after(
    flow: Flow, first_email: dict[int, dt.datetime], end: dt.datetime
) -> dict[int, list[_OrderRow]]:
    if not first_email:
        return {}
    rows = (
        Order.objects.filter(
            store_id=flow.store_id,
            customer_id__in=list(first_email),
            placed_at__gt=min(first_email.values()),
            placed_at__lte=end,
        )
        .exclude(status__in=NOT_PURCHASES)
        .values_list("pk", "customer_id", "placed_at", "total", "currency")
    )
    by_customer: dict[int, list[_OrderRow]] = defaultdict(list)
    for row in rows.iterator(chunk_size=2000):
        by_customer[row[1]].append(row)
    return by_customer


def _purchases(
    orders: dict[int, list[_OrderRow]], emailed: dict[int, dt.datetime]
) -> dict[str, Any]:
    """The orders each of `emailed` placed after their email, counted and summed per
    currency."""
    count, buyers = 0, 0
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for customer_id, at in emailed.items():
        after = [row for row in orders.get(customer_id, ()) if row[2] > at]
        count += len(after)
        buyers += bool(after)
        for _, _, _, total, currency in after:
            revenue[currency] += total
    return {
        "orders": count,
        "customers": buyers,
        "revenue": [
            {"currency": currency, "amount": str(amount)}
            for currency, amount in sorted(revenue.items())
        ],
    }
