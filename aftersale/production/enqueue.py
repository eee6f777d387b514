"""What the web process enqueues in production mode: a CSV import, a backtest or a
platform webhook it stored is handed to a Celery task by id once the transaction that
stored it commits (transaction.on_commit), so a worker never looks for a row not yet
visible.
The beat's sweeps (`background_runs`, `backtests`) run whatever a lost message left
queued."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from aftersale.flows.models import BacktestRun
from aftersale.integrations.models import ImportRun, WebhookDelivery
from aftersale.lib.runs import RunStatus

logger = logging.getLogger(__name__)
# Publishing waits at most about this long for a broker that does not answer (2 retries
# 0.2 s apart), then gives up: the request has committed, and the sweep will run it.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def connect() -> None:
    """Enqueue each queued ImportRun, BacktestRun and WebhookDelivery when created."""
    post_save.connect(_enqueue, sender=ImportRun, dispatch_uid="production-import")
    post_save.connect(_enqueue, sender=BacktestRun, dispatch_uid="production-backtest")
    post_save.connect(_enqueue, sender=WebhookDelivery, dispatch_uid="production-webhook")


def _enqueue(sender: type[Any], instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or instance.status != RunStatus.QUEUED:
        return
    from aftersale.production import tasks  # the Celery app, only once it is needed

    task = {
        ImportRun: tasks.import_run,
        BacktestRun: tasks.backtest_run,
        WebhookDelivery: tasks.webhook_delivery,
    }[sender]
    # As delay_on_commit, but a broker that is down never fails the request that stored
    # the row (it is committed by then): the beat's sweep runs what is left queued.
    transaction.on_commit(partial(_publish, task, instance.pk), robust=True)


def _publish(task: Any, pk: int) -> None:
    try:
        task.apply_async(args=[pk], retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as error:  # the broker unreachable, whatever the transport raises
        logger.warning(
            "%s %s not enqueued (%s): the beat's sweep runs it within a minute",
            *(task.name, pk, type(error).__name__),
        )
