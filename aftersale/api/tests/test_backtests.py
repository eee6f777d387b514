"""Specification of the backtest endpoints: POST /flows/{slug}/backtests queues one (202),
GET /backtests/{id} reads its status, progress and result; another store's are 404."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client

from aftersale.flows.models import BacktestRun, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.flows.tests.test_backtest_runs import order
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.stores.models import Store
from aftersale.stores.services import create_api_key, create_store
from aftersale.worker.jobs import run_jobs

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def key(store: Store) -> str:
    install_default_templates(store=store, now=NOW - 60 * DAY)
    install_library_flow(
        store=store, slug="post-purchase-upsell", now=NOW - 60 * DAY, status=FlowStatus.DRAFT
    )
    return create_api_key(store=store, name="test", now=NOW)[1]


def _start(client: Client, key: str, body: object, slug: str = "post-purchase-upsell"):  # type: ignore[no-untyped-def]
    with use_clock(VirtualClock(NOW)):
        return client.post(
            f"/api/v1/flows/{slug}/backtests",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )


def _get(client: Client, key: str, run_id: int):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/backtests/{run_id}", headers={"Authorization": f"Bearer {key}"})


@pytest.mark.django_db(transaction=True)  # the worker's SQLite snapshot: outside a transaction
def test_a_backtest_started_through_the_api_is_polled_to_its_result(
    client: Client, store: Store, key: str, tmp_path: Path
) -> None:
    order(store, "b1", "bob", NOW - 30 * DAY, "20.00")

    started = _start(client, key, {"days": 45})

    assert started.status_code == 202, started.content
    run = started.json()
    assert (run["flow"], run["days"], run["status"], run["progress"]) == (
        "post-purchase-upsell",
        45,
        "queued",
        0.0,
    )
    assert run["result"] is None
    with use_clock(VirtualClock(NOW)):
        run_jobs(home=tmp_path)
    done = _get(client, key, run["id"]).json()
    assert (done["status"], done["progress"]) == ("done", 1.0)
    assert done["result"]["orders_replayed"] == 1
    assert [step["recipients"] for step in done["result"]["steps"]] == [1, 1, 1]


def test_days_default_to_90_and_outside_1_to_3650_are_refused_naming_the_field(
    client: Client, key: str
) -> None:
    assert _start(client, key, {}).json()["days"] == 90
    for days in (0, 3651):
        refused = _start(client, key, {"days": days})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"][-1] == "days"
    assert BacktestRun.objects.count() == 1


def test_another_stores_flow_and_backtest_are_404(client: Client, store: Store, key: str) -> None:
    run_id = _start(client, key, {"days": 5}).json()["id"]
    other = create_store(name="Other", slug="other", now=NOW)
    theirs = create_api_key(store=other, name="test", now=NOW)[1]

    assert _get(client, theirs, run_id).status_code == 404
    assert _start(client, theirs, {"days": 5}).status_code == 404
    assert _start(client, key, {"days": 5}, slug="no-such-flow").status_code == 404
    assert BacktestRun.objects.count() == 1
