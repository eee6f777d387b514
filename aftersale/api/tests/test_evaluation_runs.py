"""Specification of the evaluation-run endpoints: the stored `aftersale evaluate` runs the
store's Recommendations page shows (its own and the reference datasets'), never another
store's."""

import pytest
from django.test import Client

from aftersale.dashboard.tests.conftest import RAN_AT, SaveRun, save_run  # noqa: F401
from aftersale.stores.services import create_api_key, create_store


@pytest.fixture
def key(store) -> str:
    return create_api_key(store=store, name="test", now=RAN_AT)[1]


def _get(client: Client, key: str, path: str):
    return client.get(f"/api/v1/{path}", headers={"X-API-Key": key})


def test_the_runs_the_store_may_see_are_listed_newest_first(
    client,
    key,
    store,
    save_run: SaveRun,  # noqa: F811
):
    reference = save_run(store=None, hit=0.25)
    own = save_run(store=store, hit=0.5, at=RAN_AT.replace(hour=10))
    other = create_store(name="Other", slug="other", now=RAN_AT)
    save_run(store=other, hit=0.75)

    listed = _get(client, key, "evaluation-runs").json()

    assert [run["id"] for run in listed] == [own.pk, reference.pk]
    assert [run["own"] for run in listed] == [True, False]
    assert listed[0]["dataset"] == "Test Shop order history"


def test_one_run_is_read_with_its_whole_report(client, key, store, save_run: SaveRun):  # noqa: F811
    run = save_run(store=store, hit=0.5)

    body = _get(client, key, f"evaluation-runs/{run.pk}").json()

    assert body["id"] == run.pk and body["report"] == run.report
    personal = next(
        row
        for row in body["report"]["rows"]
        if row["name"] == "personal" and row["task"] == "cross_sell"
    )
    assert personal["hit_rate"] == 0.5


def test_another_stores_run_is_not_found(client, key, save_run: SaveRun):  # noqa: F811
    other = create_store(name="Other", slug="other", now=RAN_AT)
    theirs = save_run(store=other, hit=0.75)

    answer = _get(client, key, f"evaluation-runs/{theirs.pk}")

    assert answer.status_code == 404
    assert answer.json()["detail"][0]["loc"] == ["path", "run_id"]
    assert _get(client, key, "evaluation-runs/99999999999999999999").status_code in (404, 422)
