"""Evaluation runs kept for the dashboard: saving a finished `aftersale evaluate`, finding
the runs a store's page may show, and drawing a stored run's chart."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.models import Max, Q, QuerySet

from aftersale.orders.models import Order
from aftersale.recommendations.models import EvaluationRun
from aftersale.stores.models import Store

# The evaluation's modules (run, chart, output) bring NumPy, pandas, SciPy, rich and
# matplotlib: they are imported in the functions that need them, since the dashboard's
# URLs import this module and Django's checks import those URLs at every command's start.
if TYPE_CHECKING:
    from aftersale.recommendations.evaluation.run import Report, Row

# How much of a store's history `suggested_cuts` leaves to test on, and to tune on.
_WINDOW = dt.timedelta(days=60)
# pyplot keeps global state, and `aftersale serve` answers requests from several threads.
_CHART_LOCK = threading.Lock()


def save_evaluation(
    *,
    report: Report,
    dataset: str,
    store: Store | None,
    cut: dt.date,
    validation_cut: dt.date,
    quick: bool,
    seconds: float,
    now: dt.datetime,
) -> EvaluationRun:
    """Keep `report` as its JSON output (`report_data`) with what was evaluated and how;
    `store` is the store whose own order history it was, None for a file or a dataset.
    A ratio that is not finite (the baseline scored zero) is stored as null: JSON, and
    PostgreSQL's jsonb, have no infinity."""
    from aftersale.recommendations.evaluation.output import report_data

    return EvaluationRun.objects.create(
        store=store,
        dataset=dataset,
        cut=cut,
        validation_cut=validation_cut,
        quick=quick,
        ran_at=now,
        seconds=seconds,
        report=finite(report_data(report=report)),
    )


def evaluation_runs(*, store: Store, limit: int = 20) -> list[EvaluationRun]:
    """The `limit` latest runs `store`'s page may show, newest first: the store's own and
    the dataset-level ones (no store)."""
    return list(_visible_runs(store=store).order_by("-ran_at", "-id")[:limit])


def evaluation_run(*, store: Store, run_id: int | None = None) -> EvaluationRun | None:
    """Run `run_id` if `store`'s page may show it; without an id, the store's latest own
    run, or else the latest dataset-level run. None when there is no such run."""
    runs = _visible_runs(store=store)
    if run_id is not None:
        return runs.filter(pk=run_id).first()
    newest = ("-ran_at", "-id")
    return (
        runs.filter(store=store).order_by(*newest).first()
        or runs.filter(store__isnull=True).order_by(*newest).first()
    )


def suggested_cuts(*, store: Store) -> tuple[dt.date, dt.date] | None:
    """(cut, validation cut) for evaluating `store`'s own history: the last 60 days of
    its orders to test on and the 60 days before them to tune on. None when the store
    has no orders."""
    last = Order.objects.filter(store=store).aggregate(last=Max("placed_at"))["last"]
    if last is None:
        return None
    cut = last.date() - _WINDOW
    return cut, cut - _WINDOW


def chart_png(*, run: EvaluationRun) -> bytes:
    """The chart `aftersale evaluate` draws (evaluation/chart.py), of the stored report."""
    from aftersale.recommendations.evaluation.chart import write_chart

    report = run.report
    with _CHART_LOCK, tempfile.TemporaryDirectory() as folder:
        path = write_chart(
            rows=stored_rows(report=report), k=report["k"], path=Path(folder) / "c.png"
        )
        return path.read_bytes()


def stored_rows(*, report: dict[str, Any]) -> list[Row]:
    """The rows of a stored report, each with the settings validation chose for it (a
    diversity stored as null, or not stored by an older run, is NaN)."""
    from aftersale.recommendations.evaluation.run import Row

    settings = report.get("settings", {})
    return [
        Row(
            **{
                name: value
                for name, value in row.items()
                if value is not None or name != "diversity"
            },
            settings=settings.get(row["task"], {}).get(row["name"], {}),
        )
        for row in report["rows"]
    ]


def _visible_runs(*, store: Store) -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.filter(Q(store=store) | Q(store__isnull=True))


def finite(value: Any) -> Any:
    """`value` with every non-finite float in it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value
