"""The report's holdout and A/B keys, from real journeys and orders in the database."""

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from aftersale.customers.records import CustomerRecord
from aftersale.flows.definition import parse_definition
from aftersale.flows.holdout import in_holdout
from aftersale.flows.models import Enrollment
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.reports.experiments import experiment_window, journey_outcomes
from aftersale.reports.selectors import flow_report

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
STEPS = [{"type": "delay", "days": 1}, {"type": "email", "template": "thanks"}]
WINDOW = 6 * DAY  # the one-day delay and the five days after the last step


def _orders(store, rows):
    """Ingest (order id, customer, placed_at, total[, currency]) rows in one call."""
    records = [
        OrderRecord(
            external_id=row[0],
            customer=CustomerRecord(external_id=row[1], email=f"{row[1]}@example.com"),
            placed_at=row[2],
            line_items=(LineItemRecord("milk", 1, Decimal(row[3]), product_name="Milk"),),
            currency=row[4] if len(row) > 4 else "USD",
        )
        for row in rows
    ]
    result = ingest_orders(store=store, records=records, now=T0)
    return result.created


def _flow(store, *, steps=STEPS, percent=50, trigger="first_purchase"):
    add_templates(store, T0, *{s["template"] for s in steps if s["type"] == "email"})
    definition = {
        "name": "Thanks",
        "trigger": {"event": trigger},
        "exit_when": [],
        "holdout_percent": percent,
        "guards": {"smart_sending_hours": 0, "quiet_hours": None},
        "steps": steps,
    }
    return install_flow(store=store, slug="thanks", definition=definition, now=T0)


def _report(flow, now) -> dict[str, Any]:
    return flow_report(flow=flow, now=now).as_dict()


def _enter(store, n, *, totals=None):
    ids = _orders(store, [(f"o{i}", f"c{i}", T0, (totals or {}).get(i, "20.00")) for i in range(n)])
    process_orders(store=store, order_ids=ids, now=T0)
    return {e.customer.external_id: e for e in Enrollment.objects.select_related("customer")}


def test_the_window_is_the_flows_waits_and_five_days_after():
    definition = parse_definition(
        {
            "name": "f",
            "steps": [
                {"type": "delay", "days": 2},
                {"type": "email", "template": "t"},
                {"type": "delay", "hours": 12, "weekdays": ["sat"]},
                {"type": "email", "template": "t"},
            ],
        }
    )
    assert experiment_window(definition) == dt.timedelta(days=2 + 0.5 + 7 + 5)


def test_report_compares_recipients_and_holdout_over_the_same_window(store):
    flow = _flow(store)
    journeys = _enter(store, 400)
    held = sorted(c for c, e in journeys.items() if e.holdout)
    sent = sorted(c for c, e in journeys.items() if not e.holdout)
    # A quarter of the recipients and a tenth of the holdout buy 40.00 within the window;
    # orders after the window, or in another currency, do not count.
    later: list[tuple[Any, ...]] = [(f"r{c}", c, T0 + 2 * DAY, "40.00") for c in sent[::4]]
    later += [(f"h{c}", c, T0 + 3 * DAY, "40.00") for c in held[::10]]
    later += [(f"late{c}", c, T0 + WINDOW + DAY, "500.00") for c in held[::3]]
    later += [(f"eur{c}", c, T0 + 2 * DAY, "70.00", "EUR") for c in held[1::10]]
    _orders(store, later)

    report = _report(flow, T0 + WINDOW + 2 * DAY)

    r_buyers, h_buyers = len(sent[::4]), len(held[::10])
    r_mean, h_mean = 40 * r_buyers / len(sent), 40 * h_buyers / len(held)
    assert report["holdout"] == {
        "percent": 50,
        "window_days": 6.0,
        "customers": len(held),
        "buyers": h_buyers,
        "conversion": round(100 * h_buyers / len(held), 1),
        "revenue_per_customer": round(h_mean, 2),
        "maturing": 0,
    }
    assert report["recipients"]["customers"] == len(sent)
    assert report["recipients"]["conversion"] == round(100 * r_buyers / len(sent), 1)
    incremental = report["incremental_revenue"]
    assert incremental == pytest.approx((r_mean - h_mean) * len(sent), abs=0.01)
    low, high = report["incremental_revenue_ci"]
    assert low < incremental < high
    assert low > 0  # 25% against 10% converting, on about 200 customers each
    assert report["incremental_revenue_cuped"] == pytest.approx(incremental, abs=0.01)
    assert report["incremental_revenue_cuped_ci"][0] < incremental
    assert 0 <= report["variance_reduction"] <= 1
    assert "interval is above zero" in report["holdout_verdict"]


def test_journeys_still_inside_their_window_are_counted_as_maturing(store):
    flow = _flow(store)
    _enter(store, 50)
    report = _report(flow, T0 + 3 * DAY)
    assert report["holdout"]["customers"] == report["recipients"]["customers"] == 0
    assert report["holdout"]["maturing"] + report["recipients"]["maturing"] == 50
    assert report["incremental_revenue"] is None
    assert report["incremental_revenue_ci"] is None
    assert "Too small to conclude" in report["holdout_verdict"]
    assert "50 journeys are still inside their window" in report["holdout_verdict"]


def test_a_small_holdout_is_said_to_be_too_small(store):
    flow = _flow(store, percent=10)
    _enter(store, 120)
    report = _report(flow, T0 + WINDOW)
    assert report["holdout"]["customers"] < 100
    assert report["holdout_verdict"].startswith(
        f"Too small to conclude: {report['holdout']['customers']} holdout customers"
    )


def test_a_flow_without_holdout_says_it_cannot_measure_what_it_caused(store):
    flow = _flow(store, percent=0)
    _enter(store, 20)
    report = _report(flow, T0 + WINDOW)
    assert report["holdout"]["customers"] == 0
    assert report["incremental_revenue"] is None
    assert report["holdout_verdict"].startswith("No holdout")


def test_cuped_uses_the_spend_before_entry_and_narrows_the_interval(store):
    flow = _flow(store, trigger="any_purchase")
    n = 300
    # Each customer's spend in the 90 days before entry predicts what they spend after.
    _orders(store, [(f"p{i}", f"c{i}", T0 - 30 * DAY, f"{10 + i % 50 * 4}.00") for i in range(n)])
    journeys = _enter(store, n)
    after = [
        (f"a{i}", f"c{i}", T0 + 2 * DAY, f"{10 + i % 50 * 4 + i % 7}.00")
        for i in range(n)
        if i % 2 == 0 or not journeys[f"c{i}"].holdout
    ]
    _orders(store, after)
    report = _report(flow, T0 + WINDOW + DAY)
    plain_low, plain_high = report["incremental_revenue_ci"]
    cuped_low, cuped_high = report["incremental_revenue_cuped_ci"]
    assert report["variance_reduction"] > 0.3
    assert cuped_high - cuped_low < plain_high - plain_low


def test_ab_variants_report_recipients_conversion_and_probability_best(store):
    steps = [
        {"type": "ab_split", "variants": [{"weight": 1, "goto": "a"}, {"weight": 1, "goto": "b"}]},
        {"type": "email", "template": "variant-a", "id": "a", "next": "end"},
        {"type": "email", "template": "variant-b", "id": "b"},
        {"type": "exit", "id": "end"},
    ]
    flow = _flow(store, steps=steps, percent=10)
    _enter(store, 300)
    run_due_enrollments(now=T0)
    by_variant = {
        e.customer.external_id: e.ab_variants
        for e in Enrollment.objects.select_related("customer").filter(holdout=False)
    }
    # Variant B's recipients all buy; A's never do.
    _orders(store, [(f"b{c}", c, T0 + DAY, "30.00") for c, v in by_variant.items() if v == "0:1;"])
    report = _report(flow, T0 + 6 * DAY)
    a, b = report["variants"]
    assert (a["variant"], b["variant"]) == ("A", "B")
    assert a["recipients"] + b["recipients"] == len(by_variant)
    assert (a["conversion"], b["conversion"]) == (0.0, 100.0)
    assert b["revenue_per_recipient"] == 30.0
    assert b["revenue_per_recipient_ci"] == [30.0, 30.0]
    assert b["p_value"] < 0.001 and a["p_value"] is None
    assert b["probability_best"] == 1.0
    assert a["verdict"] == b["verdict"] == ""


def test_ab_variants_below_the_minimum_say_not_enough_data_yet(store):
    steps = [
        {"type": "ab_split", "variants": [{"weight": 1}, {"weight": 1}]},
        {"type": "email", "template": "t"},
    ]
    flow = _flow(store, steps=steps, percent=0)
    _enter(store, 40)
    run_due_enrollments(now=T0)
    report = _report(flow, T0 + 6 * DAY)
    assert [v["verdict"].startswith("Not enough data yet") for v in report["variants"]] == [
        True,
        True,
    ]


AB_STEPS = [
    {"type": "ab_split", "variants": [{"weight": 1, "goto": "a"}, {"weight": 1, "goto": "b"}]},
    {"type": "email", "template": "variant-a", "id": "a", "next": "end"},
    {"type": "email", "template": "variant-b", "id": "b"},
    {"type": "exit", "id": "end"},
]


def a_measured_flow(store, *, customers=400):
    """A flow with a 50% holdout and an A/B split whose windows have all ended: a quarter
    of the recipients and a tenth of the holdout bought 40.00 after entering. Returns
    the flow and the moment to read its report at."""
    flow = _flow(store, steps=AB_STEPS)
    journeys = _enter(store, customers)
    run_due_enrollments(now=T0)
    held = sorted(c for c, e in journeys.items() if e.holdout)
    sent = sorted(c for c, e in journeys.items() if not e.holdout)
    later = [(f"r{c}", c, T0 + 2 * DAY, "40.00") for c in sent[::4]]
    _orders(store, later + [(f"h{c}", c, T0 + 3 * DAY, "40.00") for c in held[::10]])
    return flow, T0 + 6 * DAY


def test_the_command_prints_the_holdout_comparison_and_the_variants(store):
    flow, now = a_measured_flow(store)
    report = _report(flow, now)
    printed, as_json = io.StringIO(), io.StringIO()
    with use_clock(VirtualClock(now)):
        call_command("report", flow.slug, stdout=printed)
        call_command("report", flow.slug, "--format", "json", stdout=as_json)
    table = printed.getvalue()
    low, high = report["incremental_revenue_ci"]
    assert f"Incremental revenue (bootstrap): USD {report['incremental_revenue']:,.2f}" in table
    assert f"95% interval [USD {low:,.2f}, USD {high:,.2f}]" in table
    assert "Incremental revenue (CUPED): USD" in table
    assert "Holdout (50%): each journey followed 5 days from entry" in table
    assert "A/B variants" in table and report["holdout_verdict"] in table
    assert json.loads(as_json.getvalue())["incremental_revenue_ci"] == [low, high]


def test_the_api_report_has_the_holdout_keys(store, api_key):
    flow, now = a_measured_flow(store, customers=200)
    with use_clock(VirtualClock(now)):
        answer = Client().get(f"/api/v1/flows/{flow.slug}/report", headers={"X-API-Key": api_key})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    expected = _report(flow, now)
    for key in ("incremental_revenue", "incremental_revenue_ci", "incremental_revenue_cuped"):
        assert body[key] == expected[key]
    assert body["holdout"] == expected["holdout"]
    assert [v["variant"] for v in body["variants"]] == ["A", "B"]


def test_journey_outcomes_give_the_reports_numbers_and_can_be_reassigned_with_a_salt(store):
    flow, now = a_measured_flow(store, customers=300)
    report = _report(flow, now)
    outcomes = journey_outcomes(
        flow=flow, definition=definition_of(latest_version(flow=flow).pk), now=now
    )
    same = outcomes.compare(outcomes.held_out)
    assert round(same.incremental.value, 2) == report["incremental_revenue"]
    assert [round(same.incremental.low, 2), round(same.incremental.high, 2)] == report[
        "incremental_revenue_ci"
    ]
    assert same.incremental_cuped is not None
    assert same.incremental_cuped.value == pytest.approx(
        report["incremental_revenue_cuped"], abs=0.01
    )
    salted = np.array(
        [
            in_holdout(flow_id=flow.pk, customer_id=int(c), percent=50, salt="7")
            for c in outcomes.customer_ids
        ]
    )
    assert 100 < salted.sum() < 200
    assert outcomes.compare(salted).holdout.customers == salted.sum()
