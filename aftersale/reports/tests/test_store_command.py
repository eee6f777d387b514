"""`aftersale report --store SLUG [--format json]`: the store-level report, as JSON and
as the table a person reads, with the same numbers; the flow form still works."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.store_scenarios import (
    HAND_COHORTS,
    HAND_EXPECTED,
    NOW,
    hand_computed_store,
)
from aftersale.reports.tests.test_selectors import _three_buyers_a_week_apart

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    printed = io.StringIO()
    with use_clock(VirtualClock(NOW)):
        call_command("report", *args, stdout=printed)
    return printed.getvalue()


def test_the_json_of_the_hand_computed_store_is_exactly_the_expected_report() -> None:
    store = hand_computed_store()

    report = json.loads(_run("--store", store.slug, "--format", "json"))

    assert {key: report[key] for key in HAND_EXPECTED} == HAND_EXPECTED
    assert report["cohorts"] == HAND_COHORTS


def test_the_table_shows_the_rate_with_its_counts_the_benchmark_and_each_currency() -> None:
    store = hand_computed_store()

    table = _run("--store", store.slug)

    assert "57.1% (4 of 7)" in table and "32%" in table and "RJMetrics" in table
    assert "29.0" in table  # median days to the second order
    assert "revenue per customer by first-order month, EUR" in table
    assert "revenue per customer by first-order month, GBP" in table
    # January 2024 in EUR: 80.00 in month 0, 96.67 from month 1, 110.00 in month 12.
    january = next(line for line in table.splitlines() if "2024-01" in line)
    assert "80.00" in january and "96.67" in january and "110.00" in january
    assert "33.3%" in january


def test_a_range_narrows_the_customers_to_those_whose_first_order_falls_in_it() -> None:
    store = hand_computed_store()

    report = json.loads(
        _run(
            "--store",
            store.slug,
            "--since",
            "2024-02-01",
            "--until",
            "2024-04-01",
            "--format",
            "json",
        )
    )

    assert [c["month"] for c in report["cohorts"]] == ["2024-02", "2024-03"]
    assert report["repeat_rate_pct"] == 75.0


def test_with_one_store_the_store_may_be_left_out() -> None:
    hand_computed_store()

    assert json.loads(_run("--format", "json"))["customers"] == 12


def test_a_store_without_a_year_old_first_order_says_it_is_not_measurable_yet(store) -> None:
    table = _run("--store", store.slug)

    assert "not measurable yet" in table and "No purchases yet." in table


def test_a_bad_range_is_refused_saying_why() -> None:
    store = hand_computed_store()

    with pytest.raises(CommandError, match="until must be a later date"):
        _run("--store", store.slug, "--since", "2024-03-01", "--until", "2024-02-01")


def test_the_flow_form_is_unchanged(store) -> None:
    flow, clock = _three_buyers_a_week_apart(store)
    printed = io.StringIO()

    with use_clock(clock):
        call_command("report", flow.slug, "--format", "json", stdout=printed)

    assert json.loads(printed.getvalue())["flow"] == flow.slug
