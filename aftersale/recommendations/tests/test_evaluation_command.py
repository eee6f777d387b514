import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.recommendations.evaluation.output import ROW_FIELDS
from aftersale.recommendations.models import EvaluationRun


def _write_shop(path):
    """Two tastes of 40 customers each, buying every fortnight through 2024."""
    rng = np.random.default_rng(7)
    lines = ["client,receipt,sku,placed"]
    receipt = 0
    for customer in range(80):
        taste = range(0, 12) if customer % 2 else range(12, 24)
        for day in range(1, 360, 14):
            receipt += 1
            placed = np.datetime64("2024-01-01") + np.timedelta64(day + customer % 7, "D")
            for sku in rng.choice(list(taste), size=3, replace=False):
                lines.append(f"c{customer},r{receipt},p{sku},{placed}T10:00:00")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.django_db
def test_evaluate_prints_json_rows_for_both_tasks_and_writes_a_chart(tmp_path):
    orders, chart = tmp_path / "orders.csv", tmp_path / "chart.png"
    _write_shop(orders)
    out = StringIO()
    call_command(
        "evaluate",
        "--format",
        "json",
        "--quick",
        "--orders",
        str(orders),
        "--columns",
        "customer=client,order=receipt,product=sku,time=placed",
        "--cut",
        "2024-11-01",
        "--validation-cut",
        "2024-09-01",
        "--chart",
        str(chart),
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["k"] == 4
    assert {tuple(row) for row in data["rows"]} == {ROW_FIELDS}
    names = {(row["task"], row["kind"], row["name"]) for row in data["rows"]}
    for task in ("cross_sell", "replenishment"):
        assert (task, "aftersale", "personal") in names
        assert (task, "baseline", "mlxtend_rules") in names
        interval = data["bootstrap"][task]
        assert interval["low"] <= interval["ratio"] <= interval["high"]
    assert all(0.0 <= row["hit_rate"] <= 1.0 for row in data["rows"])
    assert chart.read_bytes().startswith(b"\x89PNG")
    kept = EvaluationRun.objects.get()
    assert (kept.store, kept.dataset, kept.report) == (None, "orders.csv", data)


def test_evaluate_names_a_bad_column_mapping(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="must name"):
        call_command("evaluate", "--orders", str(orders), "--columns", "customer=a")
