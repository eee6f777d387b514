"""Stored evaluation runs and dashboard logins for the dashboard's tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from aftersale.recommendations.evaluation.bootstrap import Interval
from aftersale.recommendations.evaluation.metrics import TASKS
from aftersale.recommendations.evaluation.records import save_evaluation
from aftersale.recommendations.evaluation.run import GOAL_METRIC, Comparison, Kind, Report, Row
from aftersale.recommendations.models import EvaluationRun
from aftersale.stores.models import Store
from aftersale.stores.services import add_member

PASSWORD = "correct horse battery staple"
RAN_AT = dt.datetime(2024, 3, 1, 8, 30, tzinfo=dt.UTC)

SaveRun = Callable[..., EvaluationRun]


def report_scoring(hit: float) -> Report:
    """An evaluation where the personal strategy's hit rate is `hit` in both tasks, ahead
    of two baselines."""
    methods: tuple[tuple[str, Kind, float, dict[str, object]], ...] = (
        ("personal", "aftersale", hit, {"half_life_days": 90.0, "neighbours": 50}),
        ("bestsellers", "aftersale", hit / 4, {"half_life_days": 365.0}),
        ("implicit_bm25", "baseline", hit / 2, {"kind": "bm25", "neighbours": 100}),
        ("popularity", "baseline", hit / 3, {"window_days": 30.0}),
    )
    rows = [
        Row(task, name, kind, h, h / 2, h / 3, 0.0125, 1.5, 42.0, settings)
        for task in TASKS
        for name, kind, h, settings in methods
    ]
    comparisons = [
        Comparison(task, metric, "personal", "implicit_bm25", Interval(2.0, 1.8, 2.2, 0.95))
        for task, metric in GOAL_METRIC.items()
    ]
    return Report(k=4, rows=rows, comparisons=comparisons)


@pytest.fixture
def save_run() -> SaveRun:
    """Keep an evaluation run scoring `hit`, of `store`'s orders (None: a dataset's)."""

    def save(*, store: Store | None, hit: float, at: dt.datetime = RAN_AT) -> EvaluationRun:
        return save_evaluation(
            report=report_scoring(hit),
            dataset=f"{store.name} order history" if store else "The Complete Journey",
            store=store,
            cut=dt.date(2017, 11, 1),
            validation_cut=dt.date(2017, 9, 1),
            quick=False,
            seconds=12.0,
            now=at,
        )

    return save


@pytest.fixture
def merchant(store: Store, django_user_model: type[User]) -> User:
    """A login that is a member of the test store only."""
    user = django_user_model.objects.create_user(username="merchant", password=PASSWORD)
    add_member(store=store, user=user)
    return user
