"""Specification of the flow endpoints: create from JSON, read, revise as a new version,
set live, pause, and the report (the same JSON as `aftersale report --format json`)."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from aftersale.flows.backtest import run_backtest
from aftersale.flows.models import Enrollment, Flow
from aftersale.flows.services import process_orders
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.lib.clock import VirtualClock
from aftersale.stores.services import create_api_key

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def key(store) -> str:
    add_templates(store, T0, "thank-you", "offer", "reminder")
    return create_api_key(store=store, name="test", now=T0)[1]


def _call(client: Client, key: str, method: str, path: str, body: object = None):
    kwargs = {"content_type": "application/json"} if body is not None else {}
    data = json.dumps(body) if body is not None else None
    send = getattr(client, method)
    if data is None:
        return send(f"/api/v1/{path}", headers={"X-API-Key": key})
    return send(f"/api/v1/{path}", data, headers={"X-API-Key": key}, **kwargs)


def _create(client: Client, key: str, slug: str = "upsell"):
    return _call(client, key, "post", "flows", {"slug": slug, "definition": upsell_definition()})


def test_a_flow_created_from_json_is_a_draft_with_its_definition(client, key):
    created = _create(client, key)

    assert created.status_code == 201
    body = created.json()
    assert (body["slug"], body["status"], body["version"]) == ("upsell", "draft", 1)
    assert body["definition"]["steps"][1] == {
        **body["definition"]["steps"][1],
        "type": "email",
        "template": "thank-you",
    }
    assert _call(client, key, "get", "flows/upsell").json() == body
    listed = _call(client, key, "get", "flows", None).json()
    assert [(f["slug"], f["status"], f["version"]) for f in listed] == [("upsell", "draft", 1)]


def test_an_invalid_definition_is_refused_naming_the_bad_field_and_nothing_is_stored(client, key):
    definition = upsell_definition()
    definition["steps"][1] = {"type": "email"}  # no template

    response = _call(client, key, "post", "flows", {"slug": "upsell", "definition": definition})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "definition", "steps", 1, "email", "template"]
    assert error["msg"] == "Field required"
    assert not Flow.objects.exists()


def test_a_slug_in_use_is_refused_with_409(client, key):
    _create(client, key)

    response = _create(client, key)

    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "slug"]


def test_a_revision_is_a_new_version_and_journeys_in_flight_stay_on_theirs(client, key, store):
    _create(client, key)
    _call(client, key, "post", "flows/upsell/live")
    order = place_order(store, order_id="a1", customer="ann", at=T0)
    process_orders(store=store, order_ids=[order.pk], now=T0)
    revised_definition = {**upsell_definition(), "name": "Upsell, shorter"}
    revised_definition["steps"] = revised_definition["steps"][:2]

    revised = _call(client, key, "put", "flows/upsell", {"definition": revised_definition})

    assert revised.status_code == 200
    assert (revised.json()["version"], revised.json()["status"]) == (2, "live")
    assert len(revised.json()["definition"]["steps"]) == 2
    journey = Enrollment.objects.get(customer__external_id="ann")
    assert journey.version.number == 1


def test_a_flow_is_set_live_and_paused(client, key):
    _create(client, key)

    live = _call(client, key, "post", "flows/upsell/live")
    paused = _call(client, key, "post", "flows/upsell/pause")

    assert (live.json()["status"], paused.json()["status"]) == ("live", "paused")
    listed = _call(client, key, "get", "flows?status=paused").json()
    assert [f["slug"] for f in listed] == ["upsell"]
    assert _call(client, key, "get", "flows?status=live").json() == []


def test_the_report_is_the_json_the_report_command_prints(client, key, store):
    _create(client, key)
    for n, customer in enumerate(["ann", "bob", "cat"]):
        place_order(store, order_id=f"o{n}", customer=customer, at=T0)
    place_order(store, order_id="b2", customer="bob", at=T0 + 2 * DAY, total="50.00")
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=Flow.objects.get(), start=T0 - DAY, end=T0 + 20 * DAY, clock=clock)
    printed = io.StringIO()

    answered = _call(client, key, "get", "flows/upsell/report").json()
    call_command("report", "upsell", "--format", "json", stdout=printed)

    assert answered == json.loads(printed.getvalue())
    assert (answered["started"], answered["revenue"]) == (3, 50.0)
    assert answered["overdue_at_entry"] == 0
    assert {"skipped", "skipped_by_reason", "moved_by_quiet_hours"} <= set(
        answered["steps"][1]["message"]
    )


def test_a_report_over_a_date_range_is_the_json_the_command_prints_for_that_range(
    client, key, store
):
    _create(client, key)
    place_order(store, order_id="a1", customer="ann", at=T0)
    place_order(store, order_id="b1", customer="bob", at=T0 + 2 * DAY)
    place_order(store, order_id="b2", customer="bob", at=T0 + 4 * DAY, total="50.00")
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=Flow.objects.get(), start=T0 - DAY, end=T0 + 20 * DAY, clock=clock)
    printed = io.StringIO()

    answered = _call(client, key, "get", "flows/upsell/report?since=2024-03-05&until=2024-04-01")
    call_command(
        "report",
        "upsell",
        "--since",
        "2024-03-05",
        "--until",
        "2024-04-01",
        "--format",
        "json",
        stdout=printed,
    )

    assert answered.status_code == 200
    assert answered.json() == json.loads(printed.getvalue())
    assert (answered.json()["started"], answered.json()["revenue"]) == (1, 50.0)  # bob only
    assert answered.json()["since"] == "2024-03-05T00:00:00+00:00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2024-02-30", "until"),
        ("since=2024-03-05&until=2024-03-05", "until"),
    ],
)
def test_a_report_range_that_is_not_a_pair_of_dates_in_order_answers_422_naming_it(
    client, key, query, field
):
    _create(client, key)

    answered = _call(client, key, "get", f"flows/upsell/report?{query}")

    assert answered.status_code == 422
    assert answered.json()["detail"][0]["loc"] == ["query", field]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "flows/nope"),
        ("put", "flows/nope"),
        ("post", "flows/nope/live"),
        ("post", "flows/nope/pause"),
        ("get", "flows/nope/report"),
    ],
)
def test_an_unknown_flow_answers_404(client, key, method, path):
    body = {"definition": upsell_definition()} if method == "put" else None

    response = _call(client, key, method, path, body)

    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["path", "slug"]
