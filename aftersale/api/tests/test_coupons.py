"""Specification of the coupon program endpoints: list, read, create or change terms
(422 per field), codes in bulk, and the codes a page at a time."""

import datetime as dt
import json

import pytest
from django.test import Client

from aftersale.coupons.models import Coupon, CouponProgram
from aftersale.coupons.services import issue_coupon, record_redemptions, save_program
from aftersale.coupons.tests.test_services import customer, order
from aftersale.stores.services import create_api_key

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def key(store) -> str:
    return create_api_key(store=store, name="test", now=T0)[1]


def _call(client: Client, key: str, method: str, path: str, body: object = None):
    send = getattr(client, method)
    if body is None:
        return send(f"/api/v1/{path}", headers={"X-API-Key": key})
    return send(
        f"/api/v1/{path}",
        json.dumps(body),
        content_type="application/json",
        headers={"X-API-Key": key},
    )


def test_putting_a_new_program_creates_it_and_putting_again_changes_only_the_terms_given(
    client, key
):
    created = _call(
        client, key, "put", "coupon-programs/thanks", {"kind": "percent", "amount": "15"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["terms"] == "15 % off, valid 14 days"

    changed = _call(client, key, "put", "coupon-programs/thanks", {"valid_days": 7})

    assert changed.status_code == 200
    body = changed.json()
    assert (body["kind"], body["amount"], body["valid_days"]) == ("percent", "15.00", 7)
    assert CouponProgram.objects.count() == 1


def test_bad_terms_answer_422_naming_each_field_and_store_nothing(client, key):
    answer = _call(
        client,
        key,
        "put",
        "coupon-programs/thanks",
        {"kind": "percent", "amount": "150", "valid_days": 400, "code_prefix": "no-way"},
    )

    assert answer.status_code == 422
    assert {tuple(e["loc"]) for e in answer.json()["detail"]} == {
        ("body", "amount"),
        ("body", "valid_days"),
        ("body", "code_prefix"),
    }
    assert not CouponProgram.objects.exists()


def test_a_new_program_needs_a_kind(client, key):
    answer = _call(client, key, "put", "coupon-programs/thanks", {"amount": "5"})

    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", "kind"]]


def test_the_list_and_one_program_show_issued_redeemed_rate_and_flagged(client, key, store):
    offer = save_program(store=store, slug="thanks", kind="fixed", amount="5")
    mine = issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)
    lent = issue_coupon(program=offer, customer=customer(store, "bob"), now=T0)
    record_redemptions(
        store=store,
        orders=[
            order(store, "1", customer="ann", at=T0 + DAY, codes=(mine.code,)),
            order(store, "2", customer="cy", at=T0 + DAY, codes=(lent.code,)),
        ],
    )

    [listed] = _call(client, key, "get", "coupon-programs").json()
    one = _call(client, key, "get", "coupon-programs/thanks").json()

    assert listed == one
    assert (one["issued"], one["redeemed"], one["redemption_rate"], one["flagged"]) == (
        2,
        2,
        1.0,
        1,
    )


def test_an_unknown_program_answers_404(client, key):
    assert _call(client, key, "get", "coupon-programs/nope").status_code == 404
    assert _call(client, key, "post", "coupon-programs/nope/codes", {"count": 1}).status_code == 404


def test_codes_are_added_in_bulk_and_listed_latest_first_a_page_at_a_time(client, key, store):
    offer = save_program(store=store, slug="thanks", kind="percent", amount="10")
    issue_coupon(program=offer, customer=customer(store, "ann"), now=T0)

    added = _call(client, key, "post", "coupon-programs/thanks/codes", {"count": 30})
    assert added.status_code == 201
    assert added.json() == {"added": 30, "unassigned": 30}

    first = _call(client, key, "get", "coupon-programs/thanks/codes?limit=20").json()
    last = _call(client, key, "get", "coupon-programs/thanks/codes?limit=20&offset=20").json()
    assert (first["count"], len(first["items"]), len(last["items"])) == (31, 20, 11)
    assert last["items"][-1]["customer_id"] == "ann"
    assert first["items"][0]["customer_id"] is None and first["items"][0]["issued_at"] is None
    codes = [c["code"] for c in first["items"] + last["items"]]
    assert len(set(codes)) == 31 == Coupon.objects.count()


@pytest.mark.parametrize("count", [0, 100_001, "many"])
def test_a_bulk_count_outside_1_to_100000_answers_422(client, key, store, count):
    save_program(store=store, slug="thanks", kind="percent", amount="10")

    answer = _call(client, key, "post", "coupon-programs/thanks/codes", {"count": count})

    assert answer.status_code == 422
    assert not Coupon.objects.exists()
