"""In production mode the web process hands what it stores to a Celery task by id once
its transaction commits, and the task runs it once: a second delivery finds it claimed.

In-process, on Celery's in-memory broker (the app's broker without
AFTERSALE_BROKER_URL); the real broker and workers are test_celery's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.db.models.signals import post_save
from pytest_django.fixtures import Settings

from aftersale.flows.backtest_runs import queue_backtest
from aftersale.flows.models import BacktestRun, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.integrations.import_runs import queue_import
from aftersale.integrations.models import ImportRun
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.lib.runs import RunStatus
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order
from aftersale.production import enqueue, tasks
from aftersale.production.celery import app
from aftersale.stores.models import Store

pytestmark = pytest.mark.django_db(transaction=True)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
CSV = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1,c1,ada@example.com,Ada,2024-05-20T10:00:00,p1,1,9.99\n"
)


@pytest.fixture
def production_mode(tmp_path: Path, settings: Settings) -> Iterator[None]:
    settings.DATA_DIR = tmp_path
    assert app.conf.broker_url == "memory://"
    _drain("ingest")
    _drain("fit")
    enqueue.connect()
    try:
        yield
    finally:
        for uid in ("production-import", "production-backtest", "production-webhook"):
            post_save.disconnect(dispatch_uid=uid)


def _drain(queue: str) -> list[dict[str, Any]]:
    """The task messages waiting on `queue` of the in-memory broker, taken off it."""
    found = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(block=False)
            except simple.Empty:
                break
            found.append({"task": message.headers["task"], "args": message.payload[0]})
            message.ack()
        simple.close()
    return found


def test_an_upload_is_enqueued_on_ingest_after_commit_and_imported_once(
    store: Store, production_mode: None, tmp_path: Path
) -> None:
    with transaction.atomic():
        run = queue_import(
            store=store,
            kind="orders",
            file_name="a.csv",
            chunks=[CSV.encode()],
            home=tmp_path,
            now=NOW,
        )
        assert _drain("ingest") == []  # not before the commit: the row is not visible yet
    assert _drain("ingest") == [{"task": "aftersale.import_run", "args": [run.pk]}]

    with use_clock(VirtualClock(NOW)):
        assert tasks.import_run(run.pk) is True
        assert tasks.import_run(run.pk) is False  # delivered again: already claimed, done
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert Order.objects.filter(store=store).count() == 1


def test_a_rolled_back_upload_enqueues_nothing(
    store: Store, production_mode: None, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_import(
            store=store,
            kind="orders",
            file_name="a.csv",
            chunks=[CSV.encode()],
            home=tmp_path,
            now=NOW,
        )
        raise RuntimeError("the request failed")
    assert _drain("ingest") == []
    assert not ImportRun.objects.exists()


def test_a_backtest_is_enqueued_on_the_fit_queue_and_run_once(
    store: Store, production_mode: None
) -> None:
    install_default_templates(store=store, now=NOW)
    flow = install_library_flow(
        store=store, slug="post-purchase-upsell", now=NOW, status=FlowStatus.DRAFT
    )
    with transaction.atomic():
        run = queue_backtest(flow=flow, days=30, now=NOW)
    assert _drain("ingest") == []
    assert _drain("fit") == [{"task": "aftersale.backtest_run", "args": [run.pk]}]

    with use_clock(VirtualClock(NOW)):
        assert tasks.backtest_run(run.pk) is True
        assert tasks.backtest_run(run.pk) is False
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert BacktestRun.objects.count() == 1


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The Celery app pointed at a port nothing listens on, then back."""
    from aftersale.worker.tests.crash_scenario import free_port

    def reset(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    reset(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield
    finally:
        reset("memory://")


def test_an_upload_stored_while_the_broker_is_down_is_kept_queued_for_the_sweep(
    store: Store,
    production_mode: None,
    broker_down: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with transaction.atomic():
        run = queue_import(
            store=store, kind="orders", file_name="a.csv", chunks=[CSV.encode()], home=tmp_path,
            now=NOW,
        )  # fmt: skip
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED  # committed; the request did not fail
    assert f"aftersale.import_run {run.pk} not enqueued" in caplog.text

    with use_clock(VirtualClock(NOW)):
        assert tasks.background_runs() == 1  # the sweep beat sends every 30 s
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
