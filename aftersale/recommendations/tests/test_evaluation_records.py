"""Evaluation runs are kept for the dashboard: `aftersale evaluate` saves each one, with
the store when it evaluated the store's own order history, and a store's page finds its
own latest run or else the latest dataset-level one."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.recommendations.evaluation.bootstrap import Interval
from aftersale.recommendations.evaluation.metrics import TASKS
from aftersale.recommendations.evaluation.records import (
    chart_png,
    evaluation_run,
    evaluation_runs,
    save_evaluation,
    stored_rows,
)
from aftersale.recommendations.evaluation.run import GOAL_METRIC, Comparison, Kind, Report, Row
from aftersale.recommendations.evaluation.store_orders import store_orders
from aftersale.recommendations.models import EvaluationRun
from aftersale.recommendations.tests.conftest import Shop
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

DAY = dt.timedelta(days=1)
START = dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)


def _report(*, ratio: float = 1.25) -> Report:
    """A finished evaluation of one strategy and one baseline per task."""
    methods: tuple[tuple[str, Kind, float], ...] = (
        ("personal", "aftersale", 0.5),
        ("popularity", "baseline", 0.4),
    )
    rows = [
        Row(task, name, kind, hit, hit / 2, hit / 3, 0.1, 0.5, 12.0, {"neighbours": 50})
        for task in TASKS
        for name, kind, hit in methods
    ]
    comparisons = [
        Comparison(task, metric, "personal", "popularity", Interval(ratio, 1.1, 1.4, 0.95))
        for task, metric in GOAL_METRIC.items()
    ]
    return Report(k=4, rows=rows, comparisons=comparisons)


def _save(*, store: Store | None, at: dt.datetime, ratio: float = 1.25) -> EvaluationRun:
    return save_evaluation(
        report=_report(ratio=ratio),
        dataset=store.name if store else "The Complete Journey",
        store=store,
        cut=dt.date(2017, 11, 1),
        validation_cut=dt.date(2017, 9, 1),
        quick=True,
        seconds=3.5,
        now=at,
    )


def _two_tastes(shop: Shop) -> None:
    """40 customers of two tastes, each ordering three products every three weeks of
    2024; one cancelled order of a product nobody else buys."""
    shop.products(*(f"p{n}" for n in range(24)))
    shop.products("returned")
    rng = np.random.default_rng(3)
    for week in range(0, 52, 3):
        for customer in range(40):
            taste = range(0, 12) if customer % 2 else range(12, 24)
            basket = [f"p{n}" for n in rng.choice(list(taste), size=3, replace=False)]
            shop.baskets(basket, customer=f"c{customer}", at=START + dt.timedelta(weeks=week))
    shop.baskets(["returned"], customer="c0", at=START, cancelled=True)


def test_a_store_order_history_reads_as_the_lines_of_its_sold_orders(shop: Shop) -> None:
    shop.products("tea", "mug")
    shop.baskets(["tea", "mug"], customer="ann", at=START)
    shop.baskets(["tea"], customer="bob", at=START + DAY)
    shop.baskets(["mug"], customer="bob", at=START + 2 * DAY, cancelled=True)

    orders = store_orders(store=shop.store)

    assert sorted(zip(shop.names(orders.product), orders.customer.tolist(), strict=True)) == [
        ("mug", shop.customer_id("ann")),
        ("tea", shop.customer_id("ann")),
        ("tea", shop.customer_id("bob")),
    ]
    assert set(orders.time.astype("datetime64[D]").astype(str)) == {"2024-01-01", "2024-01-02"}
    assert len(set(orders.order.tolist())) == 2
    assert orders.price.tolist() == [5.0, 5.0, 5.0]


def test_evaluate_with_a_store_evaluates_its_own_history_and_keeps_the_run(
    shop: Shop, clock: VirtualClock, tmp_path
) -> None:
    _two_tastes(shop)
    out = StringIO()
    with use_clock(clock):
        call_command(
            "evaluate",
            *("--store", shop.store.slug, "--quick", "--format", "json"),
            *("--cut", "2024-11-01", "--validation-cut", "2024-09-01"),
            *("--chart", str(tmp_path / "chart.png")),
            stdout=out,
        )

    run = EvaluationRun.objects.get()
    assert run.store == shop.store
    assert run.dataset == "Test Shop order history"
    assert (run.cut, run.validation_cut, run.quick) == (
        dt.date(2024, 11, 1),
        dt.date(2024, 9, 1),
        True,
    )
    assert run.ran_at == clock.now()
    assert run.seconds > 0
    assert run.report == json.loads(out.getvalue())
    # The tastes are perfectly separated: the personal strategy finds new products of the
    # customer's own taste.
    personal = next(
        row
        for row in run.report["rows"]
        if (row["task"], row["name"]) == ("cross_sell", "personal")
    )
    assert personal["hit_rate"] > 0.9


def test_evaluate_refuses_a_store_together_with_a_file(store: Store) -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("evaluate", "--store", store.slug, "--orders", "x.csv")


def test_evaluate_names_a_cut_that_is_not_a_date(store: Store) -> None:
    with pytest.raises(CommandError, match="--cut 'soon' is not an ISO date"):
        call_command("evaluate", "--store", store.slug, "--cut", "soon")
    assert not EvaluationRun.objects.exists()


def test_a_store_page_shows_its_own_latest_run_else_the_latest_dataset_run(
    store: Store, clock: VirtualClock
) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other",
        slug="other",
        now=clock.now(),
    )
    assert evaluation_run(store=store) is None
    older_dataset = _save(store=None, at=clock.now())
    newer_dataset = _save(store=None, at=clock.now() + DAY)
    others = _save(store=other, at=clock.now() + 3 * DAY)
    assert evaluation_run(store=store) == newer_dataset

    own = _save(store=store, at=clock.now() + 2 * DAY)

    assert evaluation_run(store=store) == own
    assert evaluation_runs(store=store) == [own, newer_dataset, older_dataset]
    assert evaluation_run(store=store, run_id=older_dataset.pk) == older_dataset
    assert evaluation_run(store=store, run_id=others.pk) is None


def test_a_ratio_without_a_finite_value_is_kept_as_null(store: Store, clock: VirtualClock) -> None:
    run = _save(store=store, at=clock.now(), ratio=float("inf"))
    run.refresh_from_db()
    assert run.report["bootstrap"]["cross_sell"]["ratio"] is None
    assert run.report["bootstrap"]["cross_sell"]["low"] == 1.1


def test_a_stored_run_gives_back_its_rows_and_draws_its_chart(
    store: Store, clock: VirtualClock
) -> None:
    run = _save(store=store, at=clock.now())
    run.refresh_from_db()
    assert stored_rows(report=run.report) == _report().rows
    assert chart_png(run=run).startswith(b"\x89PNG")
