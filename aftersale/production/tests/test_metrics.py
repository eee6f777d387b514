"""/metrics gives Prometheus the installation's figures behind a bearer token: journeys
active and due, emails by status and due, failures by kind, runs, the fit's age."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.production.tests.journey_data import populate
from aftersale.worker.loop import WorkerSettings, advance_due

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
TOKEN = "scrape-token-of-no-installation"


@pytest.fixture
def token(settings: Settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def _scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.content.decode())
        for sample in family.samples
    }


def test_metrics_count_due_journeys_then_the_emails_they_queued(client: Client, token: str) -> None:
    with use_clock(VirtualClock(NOW)):
        populate(count=3)
        before = _scrape(client)
        advance_due(config=WorkerSettings(worker_id="w", batch_size=10))
        after = _scrape(client)

    assert before[("aftersale_journeys", (("state", "active"),))] == 3
    assert before[("aftersale_journeys", (("state", "due"),))] == 3
    assert before[("aftersale_emails", (("status", "queued"),))] == 0
    assert after[("aftersale_journeys", (("state", "due"),))] == 0  # waiting a day now
    assert after[("aftersale_emails", (("status", "queued"),))] == 3
    assert after[("aftersale_emails_due", ())] == 3
    assert after[("aftersale_failures", (("kind", "email_failed"),))] == 0
    assert ("aftersale_queue_depth", (("queue", "send"),)) not in after  # embedded: no broker


def test_metrics_need_the_bearer_token(client: Client, token: str) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_metrics_do_not_exist_without_a_token(client: Client) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_give_each_celery_queues_depth_in_production_mode(
    client: Client, token: str, settings: Settings, redis_url: str
) -> None:
    import redis

    settings.BROKER_URL = redis_url
    broker = redis.Redis.from_url(redis_url)
    broker.lpush("send", "task-1", "task-2")
    broker.lpush("fit", "task-3")
    broker.close()
    figures = _scrape(client)
    assert figures[("aftersale_queue_depth", (("queue", "send"),))] == 2
    assert figures[("aftersale_queue_depth", (("queue", "fit"),))] == 1
    assert figures[("aftersale_queue_depth", (("queue", "ingest"),))] == 0
