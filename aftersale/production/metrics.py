"""Prometheus metrics of an installation, read from the database (and the broker) at
each scrape: what is due, what the outbox holds by status, what failed by kind, the
Celery queues' depth and how old each store's fit is. Each figure is one aggregate SQL
query (a count by an indexed column), the same whichever process answers the scrape."""

from __future__ import annotations

from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from aftersale.flows.models import BacktestRun, Enrollment, EnrollmentState
from aftersale.integrations.models import ImportRun, WebhookDelivery
from aftersale.lib.clock import now
from aftersale.messaging.models import Message, MessageStatus
from aftersale.production.celery import QUEUES
from aftersale.production.health import BROKER_TIMEOUT_SECONDS
from aftersale.recommendations.models import FitRun

RUNS = {"import": ImportRun, "backtest": BacktestRun, "webhook": WebhookDelivery}


class AftersaleCollector(Collector):
    """The installation's figures, read when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        moment = now()
        journeys = GaugeMetricFamily(
            "aftersale_journeys", "Active journeys, and those due now", labels=["state"]
        )
        active = Enrollment.objects.filter(state=EnrollmentState.ACTIVE)
        journeys.add_metric(["active"], active.count())
        journeys.add_metric(["due"], active.filter(due_at__lte=moment).count())
        yield journeys

        emails = GaugeMetricFamily(
            "aftersale_emails",
            "Emails in the outbox by status (rate() of delivered: emails sent per second)",
            labels=["status"],
        )
        by_status = dict(
            Message.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        for status in MessageStatus.values:
            emails.add_metric([status], by_status.get(status, 0))
        yield emails
        due = Message.objects.filter(status=MessageStatus.QUEUED, send_after__lte=moment)
        yield GaugeMetricFamily(
            "aftersale_emails_due", "Queued emails due to be sent now", value=due.count()
        )

        failures = GaugeMetricFamily(
            "aftersale_failures",
            "What failed, by kind: emails failed or bounced, skipped by reason, background "
            "runs and webhook deliveries failed",
            labels=["kind"],
        )
        failures.add_metric(["email_failed"], by_status.get(MessageStatus.FAILED, 0))
        failures.add_metric(["email_bounced"], by_status.get(MessageStatus.BOUNCED, 0))
        skipped = (
            Message.objects.filter(status=MessageStatus.SKIPPED)
            .values_list("skip_reason")
            .annotate(n=Count("pk"))
            .values_list("skip_reason", "n")
        )
        for reason, count in skipped:
            failures.add_metric([f"email_skipped_{reason or 'unknown'}"], count)
        runs = GaugeMetricFamily(
            "aftersale_runs", "Background runs by kind and status", labels=["kind", "status"]
        )
        for kind, model in RUNS.items():
            counts = model._default_manager.values_list("status").annotate(n=Count("pk"))
            for status, count in counts.values_list("status", "n"):
                runs.add_metric([kind, status], count)
                if status == "failed":
                    failures.add_metric([f"{kind}_failed"], count)
        yield failures
        yield runs

        if settings.BROKER_URL:
            yield _queue_depth()

        fit_age = GaugeMetricFamily(
            "aftersale_fit_age_seconds", "Seconds since each store's last fit", labels=["store"]
        )
        for slug, fitted_at in FitRun.objects.exclude(fitted_at=None).values_list(
            "store__slug", "fitted_at"
        ):
            if fitted_at is not None:
                fit_age.add_metric([slug], (moment - fitted_at).total_seconds())
        yield fit_age


def _queue_depth() -> Metric:
    depth = GaugeMetricFamily(
        "aftersale_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"]
    )
    client = redis.Redis.from_url(
        settings.BROKER_URL,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
    )
    try:
        for queue in QUEUES:
            depth.add_metric([queue], client.llen(queue))
    except redis.RedisError:
        pass  # /readyz says the broker is unreachable; the other figures still count
    finally:
        client.close()
    return depth


def metrics_registry() -> CollectorRegistry:
    """A registry holding the installation's figures (AftersaleCollector)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AftersaleCollector())
    return registry
