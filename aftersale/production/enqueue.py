"""What the web process enqueues in production mode: a CSV import, a backtest or a
platform webhook it stored is handed to a Celery task by id once the transaction that
stored it commits (`delay_on_commit`), so a worker never looks for a row not yet visible.
The beat's sweeps (`background_runs`, `backtests`) run whatever a lost message left
queued."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from aftersale.flows.models import BacktestRun
from aftersale.integrations.models import ImportRun, WebhookDelivery
from aftersale.lib.runs import RunStatus


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
    task.delay_on_commit(instance.pk)
