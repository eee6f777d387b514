"""The holdout: a stable share of a flow's customers, chosen at entry, who follow the flow
but are sent nothing."""

import datetime as dt
import os
import subprocess
import sys

import pytest

from aftersale.coupons.models import Coupon
from aftersale.flows.definition import InvalidFlowDefinition, parse_definition, stored_definition
from aftersale.flows.holdout import holdout_point, in_holdout
from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.messaging.models import Message

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def test_the_assignment_is_a_stable_hash_of_flow_customer_and_salt():
    # Pinned: changing the hash would move customers between groups mid-experiment.
    assert holdout_point(flow_id=1, customer_id=1) == pytest.approx(0.5453587566, abs=1e-9)
    assert holdout_point(flow_id=7, customer_id=42) == holdout_point(flow_id=7, customer_id=42)
    assert holdout_point(flow_id=7, customer_id=42) != holdout_point(flow_id=8, customer_id=42)
    assert holdout_point(flow_id=7, customer_id=42, salt="s1") != holdout_point(
        flow_id=7, customer_id=42
    )


def test_ten_percent_of_ten_thousand_customers_are_held_out():
    held = sum(in_holdout(flow_id=3, customer_id=c, percent=10) for c in range(10_000))
    assert 900 <= held <= 1100


def test_another_salt_is_an_independent_assignment():
    first = {c for c in range(10_000) if in_holdout(flow_id=3, customer_id=c, percent=10)}
    second = {
        c for c in range(10_000) if in_holdout(flow_id=3, customer_id=c, percent=10, salt="7")
    }
    assert 900 <= len(second) <= 1100
    # Independent draws overlap on about 10% of 10%: 100 customers of 10,000.
    assert 60 <= len(first & second) <= 140


def test_no_share_holds_nobody_out():
    assert not any(in_holdout(flow_id=3, customer_id=c, percent=0) for c in range(10_000))


def test_an_installation_holds_out_ten_percent_unless_told_otherwise():
    environment = {k: v for k, v in os.environ.items() if k != "AFTERSALE_HOLDOUT_PERCENT"}
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.FLOW_HOLDOUT_PERCENT)",
        ],
        env={**environment, "DJANGO_SETTINGS_MODULE": "aftersale.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "10"


def test_a_definition_without_a_share_takes_the_installations_and_is_bounded_to_half(settings):
    steps = [{"type": "email", "template": "t"}]
    settings.FLOW_HOLDOUT_PERCENT = 10
    assert parse_definition({"name": "f", "steps": steps}).holdout_percent == 10
    assert (
        stored_definition(parse_definition({"name": "f", "steps": steps}))["holdout_percent"] == 10
    )
    settings.FLOW_HOLDOUT_PERCENT = 0
    assert parse_definition({"name": "f", "steps": steps}).holdout_percent == 0
    settings.FLOW_HOLDOUT_PERCENT = 80
    with pytest.raises(InvalidFlowDefinition, match="holdout_percent"):
        parse_definition({"name": "f", "steps": steps})
    settings.FLOW_HOLDOUT_PERCENT = 10
    assert (
        parse_definition({"name": "f", "steps": steps, "holdout_percent": 0}).holdout_percent == 0
    )
    with pytest.raises(InvalidFlowDefinition, match="holdout_percent"):
        parse_definition({"name": "f", "steps": steps, "holdout_percent": 51})


def _upsell_with_holdout(store, percent):
    add_templates(store, T0, "thank-you", "offer", "reminder", "receipt")
    definition = upsell_definition(exit_when=())
    definition["holdout_percent"] = percent
    definition["guards"] = {"smart_sending_hours": 0, "quiet_hours": None}
    definition["steps"] = [
        {"type": "email", "template": "receipt", "transactional": True},
        *definition["steps"],
    ]
    return install_flow(store=store, slug="upsell", definition=definition, now=T0)


def test_holdout_customers_receive_no_email_but_follow_the_timing(store):
    flow = _upsell_with_holdout(store, 50)
    orders = [place_order(store, order_id=str(i), customer=f"c{i}", at=T0) for i in range(60)]
    process_orders(store=store, order_ids=[o.pk for o in orders], now=T0)
    now = T0
    while now <= T0 + dt.timedelta(days=10):
        run_due_enrollments(now=now)
        now += dt.timedelta(hours=1)

    held = Enrollment.objects.filter(flow=flow, holdout=True)
    recipients = Enrollment.objects.filter(flow=flow, holdout=False)
    assert 15 <= held.count() <= 45
    for enrollment in held:
        assert enrollment.holdout == in_holdout(
            flow_id=flow.pk, customer_id=enrollment.customer_id, percent=50
        )
    # Every journey went the same way at the same moments, held out or not.
    journeys = {(e.state, e.passed_steps, e.ended_at) for e in Enrollment.objects.filter(flow=flow)}
    assert len(journeys) == 1
    assert journeys.pop()[0] == EnrollmentState.COMPLETED
    # Held-out customers got only the transactional receipt and no coupon.
    held_templates = set(
        Message.objects.filter(enrollment__in=held).values_list("template__slug", flat=True)
    )
    assert held_templates == {"receipt"}
    assert not Coupon.objects.filter(customer__in=held.values("customer")).exists()
    assert Message.objects.filter(enrollment__in=recipients).count() == 4 * recipients.count()
    assert Coupon.objects.filter(customer__in=recipients.values("customer")).count() == (
        recipients.count()
    )


def test_a_flow_without_holdout_sends_to_everyone(store):
    flow = _upsell_with_holdout(store, 0)
    orders = [place_order(store, order_id=str(i), customer=f"c{i}", at=T0) for i in range(30)]
    process_orders(store=store, order_ids=[o.pk for o in orders], now=T0)
    run_due_enrollments(now=T0 + dt.timedelta(hours=1))
    assert not Enrollment.objects.filter(flow=flow, holdout=True).exists()
    assert Message.objects.filter(template__slug="thank-you").count() == 30
