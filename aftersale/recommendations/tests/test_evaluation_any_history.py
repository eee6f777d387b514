"""The evaluation on histories unlike the Complete Journey: cuts chosen from the data, a
clear error when they cannot be, bounded baselines, and methods over budget skipped."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.recommendations.evaluation import baselines
from aftersale.recommendations.evaluation.budget import Budget
from aftersale.recommendations.evaluation.cuts import NotEnoughHistory, choose_cuts
from aftersale.recommendations.evaluation.data import load_csv, parse_columns, temporal_split
from aftersale.recommendations.evaluation.run import Method, evaluate, methods
from aftersale.recommendations.evaluation.shapes import (
    GIFT_SHOP_COLUMNS,
    GROCERY_COLUMNS,
    write_gift_shop,
    write_grocery,
)
from aftersale.recommendations.tests.evaluation_fixtures import CUT, orders_from


def _grocery(tmp_path, **size):
    path = write_grocery(path=tmp_path / "grocery.csv", **size)
    return load_csv(path=path, columns=parse_columns(spec=GROCERY_COLUMNS))


def test_default_cuts_are_chosen_from_the_history_dates(tmp_path):
    orders = _grocery(tmp_path, customers=80, orders=1600)
    cuts = choose_cuts(orders=orders)
    assert orders.time.min() < cuts.validation_cut < cuts.test_cut < orders.time.max()
    assert cuts.rule in {"the last 60 days", "the last fifth of the orders"}
    assert cuts.test_customers >= 30 and cuts.validation_customers >= 30
    assert "customers with orders on both sides" in cuts.describe()


def test_too_few_customers_on_both_sides_is_an_error_naming_what_is_missing():
    # Forty customers who each ordered once: nobody has orders on both sides of a cut.
    once = orders_from([(c, f"2024-01-{1 + c % 28:02d}", [1, 2]) for c in range(40)])
    with pytest.raises(NotEnoughHistory) as missing:
        choose_cuts(orders=once)
    text = str(missing.value)
    assert "too few customers with orders on both sides" in text
    assert "40 customers, of whom 0 ordered more than once" in text


def test_association_rules_with_no_pair_frequent_enough_have_no_opinion():
    # Every basket holds one product: no itemset of two reaches any support.
    single = orders_from([(c, "2024-01-10", [c]) for c in range(10)])
    history = temporal_split(orders=single, cut=CUT).history
    scorer = baselines.fit_association_rules(history=history, max_products=300, source="history")
    assert not scorer(np.arange(history.shape[0])).any()


def test_the_minimum_support_count_leaves_at_most_the_products_asked_for():
    frequency = np.array([50, 40, 40, 9, 3, 1, 1])
    assert baselines.support_count(frequency=frequency, max_products=3) == 40
    assert baselines.support_count(frequency=frequency, max_products=100) == 2


def _hungry(*, history, **_):
    np.ones((history.shape[0], 2**28))  # 2 GB per customer row block: never fits in 300 MB
    raise AssertionError("unreachable")


def _endless(*, history, **_):
    while True:
        history.counts.sum()


def _broken(*, history, **_):
    raise ValueError("scipy.sparse does not support dtype object")


def test_methods_over_budget_or_failing_are_skipped_with_the_reason(tmp_path):
    orders = _grocery(tmp_path, customers=80, orders=1600)
    popularity = next(m for m in methods(quick=True) if m.name == "popularity")
    bestsellers = next(m for m in methods(quick=True) if m.name == "bestsellers")
    report = evaluate(
        orders=orders,
        candidates=[
            bestsellers,
            popularity,
            Method("hungry", "baseline", _hungry),
            Method("endless", "baseline", _endless),
            Method("broken", "baseline", _broken),
        ],
        budget=Budget(seconds=5.0, memory_mb=300.0),
    )
    reasons = {row.name: row.skipped for row in report.rows if row.task == "cross_sell"}
    assert reasons["bestsellers"] == reasons["popularity"] == ""
    assert "memory budget of 300 MB" in reasons["hungry"]
    assert "time budget of 5 s" in reasons["endless"]
    assert reasons["broken"] == "failed: ValueError: scipy.sparse does not support dtype object"
    # The comparison leaves skipped methods out.
    assert {c.baseline for c in report.comparisons} == {"popularity"}


@pytest.mark.django_db
def test_a_gift_shop_export_evaluates_with_only_orders_and_columns(tmp_path, capsys):
    path = write_gift_shop(path=tmp_path / "gifts.csv", customers=1500)
    out = StringIO()
    call_command(
        "evaluate",
        "--format",
        "json",
        "--quick",
        "--orders",
        str(path),
        "--columns",
        GIFT_SHOP_COLUMNS,
        "--chart",
        str(tmp_path / "chart.png"),
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["cuts"]["rule"] in {"the last 60 days", "the last fifth of the orders"}
    for row in data["rows"]:
        assert row["skipped"] or row["hit_rate"] is not None
    assert set(data["bootstrap"]) == {"cross_sell", "replenishment"}
    log = capsys.readouterr().err
    # Not a terminal: plain progress lines, and the cuts said first.
    assert "cuts: test from" in log
    assert "s] 1/" in log and "tuning bestsellers" in log


@pytest.mark.django_db
def test_a_history_nobody_returned_to_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "once.csv"
    path.write_text(
        "who,order,sku,at\n"
        + "".join(f"c{c},o{c},p{c % 5},2024-01-{1 + c % 28:02d}\n" for c in range(50))
    )
    with pytest.raises(CommandError, match="too few customers with orders on both sides"):
        call_command(
            "evaluate",
            "--orders",
            str(path),
            "--columns",
            "customer=who,order=order,product=sku,time=at",
            stdout=StringIO(),
        )
