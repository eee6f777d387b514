"""GET /api/v1/report: the store-level report, the same JSON `aftersale report --store SLUG
--format json` prints, for the key's store only."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.store_scenarios import (
    HAND_COHORTS,
    HAND_EXPECTED,
    NOW,
    hand_computed_store,
)
from aftersale.stores.services import create_api_key, create_store

pytestmark = pytest.mark.django_db


def _get(client: Client, key: str, query: str = ""):
    with use_clock(VirtualClock(NOW)):
        return client.get(f"/api/v1/report{query}", headers={"X-API-Key": key})


def _command(*args: str) -> dict[str, object]:
    printed = io.StringIO()
    with use_clock(VirtualClock(NOW)):
        call_command("report", *args, "--format", "json", stdout=printed)
    return json.loads(printed.getvalue())


def test_the_report_of_the_hand_computed_store_is_the_json_the_command_prints(client):
    store = hand_computed_store()
    key = create_api_key(store=store, name="test", now=NOW)[1]

    answered = _get(client, key)

    assert answered.status_code == 200
    body = answered.json()
    assert body == _command("--store", store.slug)
    assert {k: body[k] for k in HAND_EXPECTED} == HAND_EXPECTED
    assert body["cohorts"] == HAND_COHORTS


def test_a_range_is_the_json_the_command_prints_for_that_range(client):
    store = hand_computed_store()
    key = create_api_key(store=store, name="test", now=NOW)[1]

    answered = _get(client, key, "?since=2024-02-01&until=2024-04-01")

    assert answered.json() == _command(
        "--store", store.slug, "--since", "2024-02-01", "--until", "2024-04-01"
    )
    assert answered.json()["since"] == "2024-02-01T00:00:00+01:00"
    assert answered.json()["repeat_rate_pct"] == 75.0


@pytest.mark.parametrize(
    ("query", "field"),
    [("?since=soon", "since"), ("?since=2024-03-05&until=2024-03-05", "until")],
)
def test_a_range_that_is_not_a_pair_of_dates_in_order_answers_422_naming_it(client, query, field):
    store = hand_computed_store()
    key = create_api_key(store=store, name="test", now=NOW)[1]

    answered = _get(client, key, query)

    assert answered.status_code == 422
    assert answered.json()["detail"][0]["loc"] == ["query", field]


def test_a_key_sees_only_its_own_stores_customers(client):
    hand_computed_store()
    other = create_store(name="Other", slug="other", now=NOW)
    key = create_api_key(store=other, name="test", now=NOW)[1]

    body = _get(client, key).json()

    assert (body["store"], body["customers"], body["cohorts"]) == ("other", 0, [])
    assert body["repeat_rate_pct"] is None and body["benchmark_pct"] == 32.0


def test_without_a_key_the_report_answers_401(client):
    hand_computed_store()

    assert client.get("/api/v1/report").status_code == 401
