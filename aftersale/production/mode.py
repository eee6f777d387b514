"""Which mode this installation runs in, and the Celery app when it is production."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management.base import CommandError

if TYPE_CHECKING:
    from celery import Celery


def production_app() -> Celery:
    """The Celery app of production mode; a CommandError in the embedded mode (no
    AFTERSALE_BROKER_URL), saying which command does the work there."""
    if not settings.BROKER_URL:
        raise CommandError(
            "AFTERSALE_BROKER_URL is not set: this is the embedded mode, where "
            "`aftersale serve` (or `aftersale worker`) does this work"
        )
    from aftersale.production.celery import app

    return app
