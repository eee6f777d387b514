"""The Celery app of production mode, configured from Aftersale's settings.

Celery's own advice, followed: tasks pass ids and are idempotent (each claims its rows or
run in the database first, lib.claims / lib.runs); `acks_late` with
`task_reject_on_worker_lost`, so a task whose worker died is delivered again (and finds
the rows done or claimed); one task at a time per process (prefetch 1); separate queues
so a long fit or import never delays an email. Flow delays are due times in PostgreSQL
that the beat's `tick` claims, never ETA/countdown tasks (with Redis those run twice once
the visibility timeout passes).

    celery -A aftersale.production worker --queues send        # or: aftersale celery-worker
    celery -A aftersale.production beat                         # exactly one, or: aftersale beat
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from aftersale.lib import installation
from aftersale.lib.clock import install_test_clock
from aftersale.production import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
installation.prepare()
install_test_clock()
broker.install()  # kombu's Redis transport with a guard for broker outages (broker.py)

from django.conf import settings  # noqa: E402  (after the home exists)

# The queues: `send` emails, `ingest` webhooks and CSV imports, `fit` the daily fit and
# backtests, `default` the scheduler's tick, timed triggers and clean-ups.
QUEUES = ("default", "send", "ingest", "fit")
ROUTES = {
    "aftersale.send": {"queue": "send"},
    "aftersale.import_run": {"queue": "ingest"},
    "aftersale.webhook_delivery": {"queue": "ingest"},
    "aftersale.background_runs": {"queue": "ingest"},
    "aftersale.backtest_run": {"queue": "fit"},
    "aftersale.backtests": {"queue": "fit"},
    "aftersale.daily_fit": {"queue": "fit"},
    "aftersale.weekly_evaluation": {"queue": "fit"},
}
# How often beat sends each periodic task (seconds). A periodic task not started within
# `expires` is dropped: the next one does the same work, so a backlog never piles up.
TICK_SECONDS = float(os.environ.get("AFTERSALE_BEAT_TICK_SECONDS") or 1.0)


def _every(seconds: float, task: str) -> dict[str, Any]:
    return {"task": task, "schedule": seconds, "options": {"expires": max(5.0, 4 * seconds)}}


BEAT_SCHEDULE = {
    "tick": _every(TICK_SECONDS, "aftersale.tick"),
    "send": _every(TICK_SECONDS, "aftersale.send"),
    "timed-triggers": _every(60.0, "aftersale.timed_triggers"),
    "daily-fit": _every(600.0, "aftersale.daily_fit"),  # each store is refitted daily
    # each store is re-evaluated weekly (a claim per store: one worker evaluates it)
    "weekly-evaluation": _every(600.0, "aftersale.weekly_evaluation"),
    "background-runs": _every(30.0, "aftersale.background_runs"),
    "backtests": _every(30.0, "aftersale.backtests"),
    "clean-ups": _every(60.0, "aftersale.clean_ups"),
}

app = Celery(
    "aftersale",
    # delay_on_commit / apply_async_on_commit: enqueued once the transaction commits.
    task_cls="celery.contrib.django.task:DjangoTask",
)
app.conf.update(
    broker_url=settings.BROKER_URL or "memory://",
    broker_connection_retry_on_startup=True,
    # A worker rides out a broker outage of any length, retrying (2 s, 4 s, ... at most
    # every 30 s) rather than exiting after 100 tries; the database holds the work.
    broker_connection_max_retries=None,
    # Tasks under way when the broker goes away run to the end: each has claimed its rows
    # in PostgreSQL, so one redelivered later finds them done. (Celery 6's default is to
    # cancel them, which for a send is a kill: the window of one email sent twice.)
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # A task not acknowledged within this long is delivered again (Redis); every task is
    # idempotent, and the long ones (fits, backtests, imports) claim their run first.
    broker_transport_options={"visibility_timeout": 3600},
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_default_queue="default",
    task_routes=ROUTES,
    worker_prefetch_multiplier=1,
    worker_max_tasks_per_child=None,
    worker_hijack_root_logger=False,
    timezone="UTC",
    beat_schedule=BEAT_SCHEDULE,
    beat_schedule_filename=str(settings.DATA_DIR / "celerybeat-schedule"),
    include=["aftersale.production.tasks"],
)
