"""The worker loop: advance due enrollments and send queued emails until told to stop.

`aftersale worker` runs it in its own process, `aftersale serve` in a thread next to the
web app. Everything a pass decides is in the database (leases, the outbox), so a worker
may be stopped or killed at any moment; a graceful stop only finishes the pass under way.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from aftersale.flows.scheduler import PassSummary, run_due_enrollments
from aftersale.flows.services import enroll_timed_occasions
from aftersale.lib.clock import now
from aftersale.lib.logs import ids
from aftersale.messaging.delivery.sending import SendSummary, send_queued_messages
from aftersale.messaging.outbox.selectors import stores_holding_for_address
from aftersale.recommendations.live import evaluate_due_stores
from aftersale.recommendations.services import fit_due_stores
from aftersale.worker.jobs import run_jobs

logger = logging.getLogger(__name__)

# Timed triggers and the daily fit scan whole tables by date; passes run back to back
# while a backlog drains, and these need not run more often than this.
PERIODIC_EVERY = dt.timedelta(minutes=1)
# After a transport fault (the mail server down, or refusing our sender or account)
# sending pauses this long, doubled with each fault in a row up to SEND_PAUSE_MAX: a
# relay fixed in minutes is used again soon, a long outage costs a pass per 15 minutes.
SEND_PAUSE_FIRST = dt.timedelta(seconds=30)
SEND_PAUSE_MAX = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker identifies itself and paces its passes."""

    worker_id: str
    batch_size: int
    idle_seconds: float = 2.0


@dataclass
class SendingPause:
    """Sending held back after transport faults: until when, after how many in a row."""

    until: dt.datetime | None = None
    faults: int = 0

    def after_fault(self, *, at: dt.datetime) -> dt.timedelta:
        """Count one more transport fault in a row and hold sending from `at` for
        SEND_PAUSE_FIRST, doubled per earlier fault, at most SEND_PAUSE_MAX; return that."""
        self.faults += 1
        length = min(SEND_PAUSE_FIRST * 2 ** min(self.faults - 1, 16), SEND_PAUSE_MAX)
        self.until = at + length
        return length


@dataclass
class WorkerTotals:
    """What a worker did over its life."""

    passes: int = 0
    enrolled: int = 0
    advanced: int = 0
    queued: int = 0
    delivered: int = 0
    other_outcomes: int = 0
    errors: int = 0
    runs: int = 0  # background imports and backtests
    # When this worker last ran the timed triggers and the fit check.
    periodic_at: dt.datetime | None = None
    sending_pause: SendingPause = field(default_factory=SendingPause)
    # The stores this worker has said are holding marketing emails for want of a postal
    # address (said once each, again only after the store had one in between).
    held_for_address: set[int] = field(default_factory=set)


def run_pass(*, config: WorkerSettings, totals: WorkerTotals) -> bool:
    """One scheduler pass at the clock's current time: start the flows whose timed
    triggers (abandoned checkouts, birthdays, dormant customers...) fell due, claim and
    advance a batch of due enrollments, then claim and send a batch of due emails unless
    sending is paused (`_send`), then run at most one queued CSV import and one queued
    backtest (worker.jobs). Adds to `totals` and returns whether the pass found any work.
    The timed triggers and the daily fit run at most once per PERIODIC_EVERY."""
    enrolled = _periodic_work(config=config, totals=totals)
    steps = advance_due(config=config)
    sends = send_due(config=config, pause=totals.sending_pause)
    jobs = run_jobs()
    totals.passes += 1
    totals.runs += jobs.imports + jobs.backtests
    totals.enrolled += enrolled
    totals.advanced += steps.claimed
    totals.queued += steps.messages_queued
    totals.delivered += sends.delivered
    totals.other_outcomes += sends.total - sends.delivered
    busy = bool(enrolled or steps.claimed or steps.moved_in_bulk or sends.total or jobs.total)
    if busy:
        logger.info(
            "worker %s: started %d journeys; advanced %d enrollments (%d emails queued, "
            "%d completed, %d exited); sent %d delivered, %d bounced, %d deferred, "
            "%d failed, %d skipped; ran %d imports and %d backtests",
            config.worker_id,
            enrolled,
            *(steps.claimed, steps.messages_queued, steps.completed, steps.exited),
            *(sends.delivered, sends.bounced, sends.deferred, sends.failed, sends.skipped),
            *(jobs.imports, jobs.backtests),
            extra=ids(worker=config.worker_id),
        )
    return busy


def advance_due(*, config: WorkerSettings) -> PassSummary:
    """Claim and advance up to `config.batch_size` enrollments due at the clock's time
    (one part of a pass; a production `tick` task calls it too)."""
    return run_due_enrollments(now=now(), limit=config.batch_size, worker_id=config.worker_id)


def send_due(*, config: WorkerSettings, pause: SendingPause) -> SendSummary:
    """Claim and send a batch of due emails, unless `pause` still holds. A transport
    fault (the emails stay queued, none counted against) pauses sending, SEND_PAUSE_FIRST
    doubled per fault in a row up to SEND_PAUSE_MAX, and the operator is told once per
    pause, with what the server said; a later pass that sends ends the pause."""
    moment = now()
    if pause.until is not None and moment < pause.until:
        return SendSummary()
    sends = send_queued_messages(now=moment, limit=config.batch_size, worker_id=config.worker_id)
    if sends.fault:
        length = pause.after_fault(at=moment)
        logger.warning(
            "worker %s: sending paused for %d s (transport fault %d in a row; the emails "
            "stay queued, none is failed or counted for it): %s",
            *(config.worker_id, length.total_seconds(), pause.faults, sends.fault),
            extra=ids(worker=config.worker_id),
        )
    elif pause.faults and sends.total:
        logger.warning(
            "worker %s: sending resumed after %d transport faults in a row",
            *(config.worker_id, pause.faults),
            extra=ids(worker=config.worker_id),
        )
        pause.until, pause.faults = None, 0  # the next fault pauses briefly again
    return sends


def _periodic_work(*, config: WorkerSettings, totals: WorkerTotals) -> int:
    """Start the journeys of timed triggers and refit due stores, unless this worker did
    so less than PERIODIC_EVERY ago; return how many journeys it started."""
    moment = now()
    if totals.periodic_at is not None and moment - totals.periodic_at < PERIODIC_EVERY:
        return 0
    totals.periodic_at = moment
    enrolled = start_timed_journeys(config=config, totals=totals)
    fit_due(config=config)
    evaluate_due(config=config)
    return enrolled


def start_timed_journeys(*, config: WorkerSettings, totals: WorkerTotals) -> int:
    """Warn about stores holding emails for want of a postal address, then start the
    journeys of timed triggers due at the clock's time; return how many started."""
    _say_held_for_address(config=config, totals=totals)
    return enroll_timed_occasions(now=now())


def fit_due(*, config: WorkerSettings) -> int:
    """Refit the recommendations of every store whose daily fit is due; return how many
    stores were fitted (a send only reads the fit)."""
    fitted = 0
    for store, fit in fit_due_stores(now=now()):
        fitted += 1
        logger.info(
            "worker %s: fitted recommendations of %s in %.1f s",
            config.worker_id,
            store.slug,
            fit.seconds,
            extra=ids(worker=config.worker_id, store=store.slug),
        )
    return fitted


def evaluate_due(*, config: WorkerSettings) -> int:
    """Re-evaluate the recommendations of every store whose weekly evaluation is due,
    which decides the strategies live in its emails; return how many were evaluated."""
    evaluated = 0
    for store, outcome in evaluate_due_stores(now=now()):
        evaluated += 1
        logger.info(
            "worker %s: evaluated %s: %s",
            *(config.worker_id, store.slug, outcome),
            extra=ids(worker=config.worker_id, store=store.slug),
        )
    return evaluated


def _say_held_for_address(*, config: WorkerSettings, totals: WorkerTotals) -> None:
    """Warn once per store whose marketing emails wait because it has no postal address."""
    holding = {store.pk: (store, count) for store, count in stores_holding_for_address()}
    for store, count in holding.values():
        if store.pk not in totals.held_for_address:
            logger.warning(
                "worker %s: %d marketing emails of store %s wait, queued, until it has a "
                "postal address (dashboard Settings, or the admin): the law wants one in "
                "every marketing email",
                *(config.worker_id, count, store.slug),
                extra=ids(worker=config.worker_id, store=store.slug),
            )
    totals.held_for_address = set(holding)


def run_worker(
    *, config: WorkerSettings, stop: threading.Event, once: bool = False
) -> WorkerTotals:
    """Run passes back to back while they find work, pausing `idle_seconds` after an idle
    one, until `stop` is set (the pass under way is finished first) or, with `once`,
    after a single pass. A database error is logged and retried after a pause rather than
    ending the loop, so an embedded worker survives a database restart."""
    totals = WorkerTotals()
    logger.info("worker %s started", config.worker_id)
    try:
        while not stop.is_set():
            busy = _guarded_pass(config=config, totals=totals)
            if once:
                break
            if totals.passes == 1:
                freeze_warm_objects()
            if not busy:
                stop.wait(config.idle_seconds)
    finally:
        connection.close()  # this thread's connection; the next user opens its own
    logger.info(
        "worker %s stopped after %d passes: %d advanced, %d delivered",
        *(config.worker_id, totals.passes, totals.advanced, totals.delivered),
    )
    return totals


def freeze_warm_objects() -> None:
    """Leave what the process has loaded and warmed so far (Django, Babel's locale data,
    compiled templates and their caches) out of every later garbage collection: it lives
    as long as the process, and a full collection that walked it took ~75 ms, ~5% of a
    send when it came every few hundred emails."""
    gc.collect()
    gc.freeze()


def _guarded_pass(*, config: WorkerSettings, totals: WorkerTotals) -> bool:
    try:
        return run_pass(config=config, totals=totals)
    except DatabaseError:
        totals.errors += 1
        logger.exception(
            "worker %s: pass failed; retrying", config.worker_id, extra=ids(worker=config.worker_id)
        )
        connection.close()  # a broken connection is reopened by the next pass
        return False
