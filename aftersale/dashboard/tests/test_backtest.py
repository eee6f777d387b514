"""The Backtest page through Django's test client: a backtest queued for the last N days,
its panel polled by htmx until the worker has run it, the result per step with the
purchases that followed per currency; bad days refused next to the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from aftersale.flows.models import BacktestRun, Flow, FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.flows.tests.test_backtest_runs import order
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.lib.runs import RunStatus
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.worker.jobs import run_jobs

# The worker's SQLite snapshot is taken outside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
POLL = 'hx-trigger="every 1s"'


@pytest.fixture
def signed_in(client: Client, merchant: User, tmp_path: Path, settings: Settings) -> Client:
    settings.DATA_DIR = tmp_path
    client.force_login(merchant)
    return client


@pytest.fixture
def flow(store: Store) -> Flow:
    install_default_templates(store=store, now=NOW - 60 * DAY)
    flow = install_library_flow(
        store=store, slug="post-purchase-upsell", now=NOW - 60 * DAY, status=FlowStatus.DRAFT
    )
    order(store, "a1", "ann", NOW - 40 * DAY, "30.00")
    order(store, "a2", "ann", NOW - 35 * DAY, "45.50")
    order(store, "b1", "bob", NOW - 30 * DAY, "20.00")
    return flow


def _url(store: Store, flow: Flow) -> str:
    return reverse("dashboard:flow-backtest", args=[store.slug, flow.slug])


def test_a_backtest_is_queued_polled_and_its_result_read(
    signed_in: Client, store: Store, flow: Flow, tmp_path: Path
) -> None:
    page = signed_in.get(_url(store, flow)).content.decode()
    assert 'name="days"' in page and 'value="90"' in page

    with use_clock(VirtualClock(NOW)):
        asked = signed_in.post(_url(store, flow), {"days": "60"})
    assert asked.status_code == 302 and asked["Location"] == _url(store, flow)
    run = BacktestRun.objects.get(flow=flow)
    assert (run.days, run.status) == (60, RunStatus.QUEUED)
    waiting = signed_in.get(asked["Location"]).content.decode()
    assert POLL in waiting and "Waiting for the worker" in waiting

    with use_clock(VirtualClock(NOW)):
        run_jobs(home=tmp_path)

    panel = signed_in.get(
        reverse("dashboard:backtest-run", args=[store.slug, flow.slug, run.pk]),
        headers={"HX-Request": "true"},
    ).content.decode()
    assert POLL not in panel and "<html" not in panel
    assert "nothing was sent" in panel
    assert "Email 1: <code>thank-you</code>" in panel
    assert "2 emails to 2 customers" in panel  # ann and bob thanked
    assert "1 email to 1 customer" in panel  # the reminder: ann had bought again
    assert "45.50 EUR" in panel  # ann's purchase after the emails, in its currency
    assert not Message.objects.filter(store=store).exists()  # nothing really queued


def test_days_out_of_range_or_not_a_number_are_refused_next_to_the_field(
    signed_in: Client, store: Store, flow: Flow
) -> None:
    for typed, said in [
        ("0", "between 1 and 3,650"),
        ("4000", "between 1 and 3,650"),
        ("ninety", "whole number"),
    ]:
        answer = signed_in.post(_url(store, flow), {"days": typed})
        html = answer.content.decode()
        assert answer.status_code == 400
        assert 'id="backtest-days-error"' in html and said in html
        assert f'value="{typed}"' in html  # what was typed is kept
    assert not BacktestRun.objects.exists()


def test_another_stores_flow_and_backtests_are_not_found(
    signed_in: Client, store: Store, flow: Flow
) -> None:
    other = create_store(name="Other", slug="other", now=NOW)
    theirs = install_library_flow(store=other, slug="review-request", now=NOW)
    run = BacktestRun.objects.create(store=other, flow=theirs, days=5, created_at=NOW)

    assert signed_in.get(_url(other, theirs)).status_code == 404
    assert signed_in.post(_url(other, theirs), {"days": "5"}).status_code == 404
    assert (
        signed_in.get(f"/dashboard/{store.slug}/flows/review-request/backtest/").status_code == 404
    )
    mine = reverse("dashboard:backtest-run", args=[store.slug, flow.slug, run.pk])
    assert signed_in.get(mine).status_code == 404
    assert BacktestRun.objects.count() == 1


def test_a_failed_backtest_says_so_with_the_reason(
    signed_in: Client, store: Store, flow: Flow
) -> None:
    run = BacktestRun.objects.create(
        store=store,
        flow=flow,
        days=30,
        status=RunStatus.FAILED,
        error="the worker running it stopped",
        created_at=NOW,
    )

    panel = signed_in.get(
        reverse("dashboard:backtest-run", args=[store.slug, flow.slug, run.pk]),
        headers={"HX-Request": "true"},
    ).content.decode()

    assert "Failed." in panel and "the worker running it stopped" in panel
    assert POLL not in panel
