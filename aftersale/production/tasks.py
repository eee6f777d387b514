"""Production mode's Celery tasks: thin, each calls the worker's pass parts (worker.loop,
worker.jobs), the functions the embedded loop calls. They pass ids, never rows, and are
idempotent: each claims its enrollments, emails or run in the database (a lease or a
conditional UPDATE) before doing anything, so a task delivered twice, or again after its
worker died, finds the work done or claimed by someone else."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from aftersale.flows.backtest_runs import run_queued_backtest
from aftersale.flows.models import BacktestRun
from aftersale.integrations.import_runs import run_import
from aftersale.integrations.models import ImportRun, WebhookDelivery
from aftersale.integrations.platforms.deliveries import process_delivery
from aftersale.lib.clock import now
from aftersale.lib.runs import claim_run
from aftersale.messaging.outbox.services import default_worker_id
from aftersale.production.celery import app
from aftersale.worker import jobs
from aftersale.worker.loop import (
    SendingPause,
    WorkerSettings,
    WorkerTotals,
    advance_due,
    evaluate_due,
    fit_due,
    freeze_warm_objects,
    send_due,
    start_timed_journeys,
)

logger = logging.getLogger(__name__)

# A tick or send task claims batch after batch while they come back full, for at most
# this long, then ends; the next one beat sent carries on (others run beside it).
TASK_BUDGET_SECONDS = 20.0
# This process's sending pause after transport faults and its once-per-store warnings,
# kept between tasks as the embedded loop keeps them between passes.
_pause = SendingPause()
_totals = WorkerTotals()
_warm = False


def _config() -> WorkerSettings:
    # The pid is part of the id: each prefork child claims rows under its own name.
    return WorkerSettings(worker_id=default_worker_id(), batch_size=settings.SCHEDULER_BATCH_SIZE)


@app.task(name="aftersale.tick")
def tick() -> int:
    """Claim and advance due enrollments, batch after batch, until a batch comes back
    short or TASK_BUDGET_SECONDS have passed; return how many were advanced."""
    config, advanced = _config(), 0
    started = time.monotonic()
    while True:
        steps = advance_due(config=config)
        advanced += steps.claimed
        if steps.claimed < config.batch_size or time.monotonic() - started > TASK_BUDGET_SECONDS:
            break
    if advanced:
        logger.info("tick %s: advanced %d enrollments", config.worker_id, advanced)
    return advanced


@app.task(name="aftersale.send")
def send() -> int:
    """Claim and send due emails, batch after batch, until a batch comes back short, a
    transport fault pauses sending (worker.loop.send_due) or TASK_BUDGET_SECONDS have
    passed; return how many were handed to the relay or ended otherwise."""
    config, total = _config(), 0
    started = time.monotonic()
    while True:
        sends = send_due(config=config, pause=_pause)
        total += sends.total
        if (
            sends.fault
            or sends.total < config.batch_size
            or time.monotonic() - started > TASK_BUDGET_SECONDS
        ):
            break
    if total:
        logger.info("send %s: %d emails", config.worker_id, total)
    _freeze_once()
    return total


def _freeze_once() -> None:
    # As the embedded loop does after its first pass: what the process has warmed stays
    # out of later garbage collections (worker.loop.freeze_warm_objects).
    global _warm
    if not _warm:
        freeze_warm_objects()
        _warm = True


@app.task(name="aftersale.timed_triggers")
def timed_triggers() -> int:
    """Start the journeys of timed triggers (abandoned checkouts, birthdays...) due now."""
    return start_timed_journeys(config=_config(), totals=_totals)


@app.task(name="aftersale.daily_fit")
def daily_fit() -> int:
    """Refit the recommendations of the stores whose daily fit is due."""
    return fit_due(config=_config())


@app.task(name="aftersale.weekly_evaluation")
def weekly_evaluation() -> int:
    """Re-evaluate the stores whose weekly evaluation is due (their live strategies)."""
    return evaluate_due(config=_config())


@app.task(name="aftersale.background_runs")
def background_runs() -> int:
    """Run one queued CSV import, apply the stored platform webhooks and create in their
    shops the coupon codes emails wait for: the sweep that catches any run whose own
    task was lost; return how many were run, applied and created."""
    return jobs.run_next_import() + jobs.apply_webhooks() + jobs.sync_shop_codes()


@app.task(name="aftersale.backtests")
def backtests() -> int:
    """Run one queued backtest (the sweep beside backtest_run)."""
    return jobs.run_next_backtest()


@app.task(name="aftersale.clean_ups")
def clean_ups() -> int:
    """Fail the imports and backtests whose worker died; return how many."""
    return jobs.fail_stale()


@app.task(name="aftersale.import_run")
def import_run(run_id: int) -> bool:
    """Run CSV import `run_id` if it is still queued (claimed here); False otherwise."""
    if not claim_run(ImportRun, pk=run_id, now=now()):
        return False
    run = run_import(run=ImportRun.objects.get(pk=run_id), now=now)
    logger.info("import run %s of %s: %s", run.pk, run.file_name, run.status)
    return True


@app.task(name="aftersale.backtest_run")
def backtest_run(run_id: int) -> bool:
    """Run backtest `run_id` if it is still queued (claimed here); False otherwise."""
    if not claim_run(BacktestRun, pk=run_id, now=now()):
        return False
    run = run_queued_backtest(
        run=BacktestRun.objects.get(pk=run_id), directory=settings.DATA_DIR / "runs", now=now
    )
    logger.info("backtest %s of flow %s: %s", run.pk, run.flow_id, run.status)
    return True


@app.task(name="aftersale.webhook_delivery")
def webhook_delivery(delivery_id: int) -> bool:
    """Apply stored platform webhook `delivery_id` if it is still queued; False otherwise."""
    if not claim_run(WebhookDelivery, pk=delivery_id, now=now()):
        return False
    process_delivery(delivery=WebhookDelivery.objects.get(pk=delivery_id), now=now)
    return True
