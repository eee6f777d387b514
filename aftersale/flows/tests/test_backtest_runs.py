"""Backtests run in the background: a copy of the flow replayed over the store's last N
days in a throwaway database, its progress visible while it runs, its result what the
flow would have sent and the purchases that followed, the store's data left unchanged."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from aftersale.customers.records import CustomerRecord
from aftersale.flows import backtest_runs
from aftersale.flows.backtest_runs import InvalidBacktest, queue_backtest, run_queued_backtest
from aftersale.flows.models import BacktestRun, Enrollment, Flow, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.integrations.services import receive_orders
from aftersale.lib.runs import RunStatus, claim_run
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.stores.models import Store

# The snapshot of a SQLite database is taken outside a transaction, as the worker does.
pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def order(
    store: Store, order_id: str, who: str, at: dt.datetime, total: str, currency: str = "EUR"
) -> None:
    """One order through the ingest door, as the API would post it."""
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(who, f"{who}@example.com", first_name=who.title()),
        placed_at=at,
        currency=currency,
        line_items=(LineItemRecord("mug", 1, Decimal(total), product_name="Blue mug"),),
    )
    receive_orders(store=store, records=[record], now=at)


@pytest.fixture
def upsell(store: Store) -> Flow:
    """The ready post-purchase upsell flow, a draft, over three customers' orders: ann
    buys again five days after her first order (after the offer, before the reminder),
    bob buys once, cat buys again in GBP two weeks later."""
    install_default_templates(store=store, now=NOW - 60 * DAY)
    flow = install_library_flow(
        store=store, slug="post-purchase-upsell", now=NOW - 60 * DAY, status=FlowStatus.DRAFT
    )
    order(store, "a1", "ann", NOW - 40 * DAY, "30.00")
    order(store, "a2", "ann", NOW - 35 * DAY, "45.50")
    order(store, "b1", "bob", NOW - 30 * DAY, "20.00")
    order(store, "c1", "cat", NOW - 50 * DAY, "10.00", currency="GBP")
    order(store, "c2", "cat", NOW - 36 * DAY, "12.00", currency="GBP")
    order(store, "old", "dan", NOW - 200 * DAY, "99.00")  # before the window
    return flow


def run(flow: Flow, days: int, tmp_path: Path) -> BacktestRun:
    queued = queue_backtest(flow=flow, days=days, now=NOW)
    assert claim_run(BacktestRun, pk=queued.pk, now=NOW)
    queued.refresh_from_db()
    return run_queued_backtest(run=queued, directory=tmp_path, now=lambda: NOW)


def snapshot_of_the_store(store: Store) -> dict[str, Any]:
    return {
        "flows": list(Flow.objects.filter(store=store).values_list("slug", "status")),
        "enrollments": Enrollment.objects.filter(store=store).count(),
        "messages": Message.objects.filter(store=store).count(),
        "orders": Order.objects.filter(store=store).count(),
    }


def test_a_backtest_shows_per_step_what_would_be_sent_and_the_purchases_that_followed(
    store: Store, upsell: Flow, tmp_path: Path
) -> None:
    done = run(upsell, 90, tmp_path)

    assert done.status == RunStatus.DONE, done.error
    result = done.result
    assert result is not None
    assert result["orders_replayed"] == 5  # dan's order is older than 90 days
    assert result["enrolled"] == 3  # ann, bob, cat's first purchases
    thank_you, offer, reminder = result["steps"]
    assert (thank_you["template"], thank_you["sent"], thank_you["recipients"]) == (
        "thank-you",
        3,
        3,
    )
    assert (offer["sent"], offer["recipients"]) == (3, 3)
    # Ann bought again after the offer: her journey ended before the reminder.
    assert (reminder["sent"], reminder["recipients"]) == (2, 2)
    assert result["purchases"] == {
        "orders": 2,
        "customers": 2,
        "revenue": [
            {"currency": "EUR", "amount": "45.50"},
            {"currency": "GBP", "amount": "12.00"},
        ],
    }
    assert done.progress == 1.0 and done.finished_at == NOW


def test_a_backtest_changes_nothing_of_the_stores_data_and_leaves_no_file(
    store: Store, upsell: Flow, tmp_path: Path
) -> None:
    live = install_library_flow(store=store, slug="review-request", now=NOW - 60 * DAY)
    before = snapshot_of_the_store(store)

    assert run(upsell, 90, tmp_path).status == RunStatus.DONE

    assert snapshot_of_the_store(store) == before
    assert Flow.objects.get(pk=live.pk).status == FlowStatus.LIVE
    assert list(tmp_path.iterdir()) == []


def test_the_last_n_days_only_are_replayed(store: Store, upsell: Flow, tmp_path: Path) -> None:
    result = run(upsell, 32, tmp_path).result
    assert result is not None

    assert result["orders_replayed"] == 1  # bob's, 30 days ago
    assert result["steps"][0]["recipients"] == 1


def test_days_outside_1_to_3650_are_refused_naming_the_field(upsell: Flow) -> None:
    for days in (0, 3651):
        with pytest.raises(InvalidBacktest, match="between 1 and 3,650") as refused:
            queue_backtest(flow=upsell, days=days, now=NOW)
        assert refused.value.field == "days"
    assert not BacktestRun.objects.exists()


def _while_running(monkeypatch: pytest.MonkeyPatch, each_tick: Callable[[], None]) -> None:
    """Call `each_tick` from another thread (its own database connection) after every
    tick of the backtest, while it runs."""
    monkeypatch.setattr(backtest_runs, "PROGRESS_EVERY", 0.0)
    replay = backtest_runs.run_backtest

    def spied(**kwargs: Any) -> Any:
        on_tick = kwargs.pop("on_tick")

        def tick(moment: dt.datetime) -> None:
            on_tick(moment)
            other = threading.Thread(target=_closing(each_tick))
            other.start()
            other.join(timeout=30)
            assert not other.is_alive(), "the other connection was blocked by the backtest"

        return replay(on_tick=tick, **kwargs)

    monkeypatch.setattr(backtest_runs, "run_backtest", spied)


def _closing(work: Callable[[], None]) -> Callable[[], None]:
    def run_and_close() -> None:
        try:
            work()
        finally:
            connection.close()

    return run_and_close


def test_progress_is_visible_to_another_connection_while_the_backtest_runs(
    store: Store, upsell: Flow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    _while_running(monkeypatch, lambda: seen.append(BacktestRun.objects.get(flow=upsell).progress))

    run(upsell, 90, tmp_path)

    assert len(seen) > 3
    assert seen == sorted(seen) and 0 < seen[-1] < 1
    assert seen[len(seen) // 2] > 0


def test_orders_are_ingested_and_kept_while_a_backtest_runs(
    store: Store, upsell: Flow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[str] = []

    def post_an_order() -> None:
        order_id = f"live-{len(posted)}"
        order(store, order_id, "eve", NOW, "5.00")
        posted.append(order_id)

    _while_running(monkeypatch, post_an_order)

    assert run(upsell, 90, tmp_path).status == RunStatus.DONE
    assert len(posted) > 3
    kept = set(
        Order.objects.filter(store=store, external_id__startswith="live-").values_list(
            "external_id", flat=True
        )
    )
    assert kept == set(posted)


def test_a_backtest_that_breaks_ends_failed_with_the_reason_and_changes_nothing(
    store: Store, upsell: Flow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot_of_the_store(store)
    replay = backtest_runs.run_backtest

    def breaks(**kwargs: Any) -> Any:
        replay(**kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(backtest_runs, "run_backtest", breaks)

    failed = run(upsell, 90, tmp_path)

    assert (failed.status, failed.result) == (RunStatus.FAILED, None)
    assert "the disk is full" in failed.error
    assert snapshot_of_the_store(store) == before
    assert list(tmp_path.iterdir()) == []
