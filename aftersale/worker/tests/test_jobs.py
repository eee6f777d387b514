"""The worker's background runs: each pass claims one queued import and one queued
backtest and runs it to its end; a run whose worker died is failed after six hours."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from aftersale.flows.backtest_runs import queue_backtest
from aftersale.flows.models import BacktestRun, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.integrations.import_runs import queue_import
from aftersale.integrations.models import ImportRun
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.lib.runs import STALE_REASON, RunStatus
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from aftersale.worker.loop import WorkerSettings, WorkerTotals, run_pass

pytestmark = pytest.mark.django_db(transaction=True)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = WorkerSettings(worker_id="w", batch_size=10, idle_seconds=0)
CSV = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1,c1,ada@example.com,Ada,2024-05-20T10:00:00,p1,1,9.99\n"
    "2,c2,bob@,Bob,2024-05-21T10:00:00,p1,1,9.99\n"
)


@pytest.fixture
def home(tmp_path: Path, settings: Settings) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_a_pass_runs_one_queued_import_and_one_queued_backtest(store: Store, home: Path) -> None:
    install_default_templates(store=store, now=NOW)
    flow = install_library_flow(
        store=store, slug="post-purchase-upsell", now=NOW, status=FlowStatus.DRAFT
    )
    first = queue_import(
        store=store, kind="orders", file_name="a.csv", chunks=[CSV.encode()], home=home, now=NOW
    )
    second = queue_import(
        store=store, kind="orders", file_name="b.csv", chunks=[CSV.encode()], home=home, now=NOW
    )
    backtest = queue_backtest(flow=flow, days=30, now=NOW)
    totals = WorkerTotals()

    with use_clock(VirtualClock(NOW)):
        assert run_pass(config=CONFIG, totals=totals)

    first.refresh_from_db()
    second.refresh_from_db()
    backtest.refresh_from_db()
    assert (first.status, first.rows_good, first.rows_bad) == (RunStatus.DONE, 1, 1)
    assert second.status == RunStatus.QUEUED  # one import per pass
    assert backtest.status == RunStatus.DONE, backtest.error
    assert backtest.result is not None and backtest.result["orders_replayed"] == 1
    assert totals.runs == 2
    assert Order.objects.filter(store=store).count() == 1

    with use_clock(VirtualClock(NOW)):
        run_pass(config=CONFIG, totals=totals)
    second.refresh_from_db()
    assert second.status == RunStatus.DONE


def test_a_run_left_running_by_a_dead_worker_fails_after_six_hours(
    store: Store, home: Path
) -> None:
    run = queue_import(
        store=store, kind="orders", file_name="a.csv", chunks=[CSV.encode()], home=home, now=NOW
    )
    ImportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=NOW)

    with use_clock(VirtualClock(NOW + dt.timedelta(hours=5))):
        run_pass(config=CONFIG, totals=WorkerTotals())
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING

    with use_clock(VirtualClock(NOW + dt.timedelta(hours=6, minutes=1))):
        assert run_pass(config=CONFIG, totals=WorkerTotals())
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, STALE_REASON)
    assert not BacktestRun.objects.exists()
