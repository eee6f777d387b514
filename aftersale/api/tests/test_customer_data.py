"""Specification of a customer's endpoints: recommendations with their reasons, the
export of everything stored about them, and erasure."""

import datetime as dt

import pytest
from django.test import Client

from aftersale.api.tests.test_ingest import ORDER
from aftersale.customers.models import Customer
from aftersale.recommendations.services import fit_recommendations
from aftersale.stores.services import create_api_key

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def key(store) -> str:
    return create_api_key(store=store, name="test", now=T0)[1]


def _call(client: Client, key: str, method: str, path: str, body: object = None):
    headers = {"Authorization": f"Bearer {key}"}
    if body is None:
        return getattr(client, method)(f"/api/v1/{path}", headers=headers)
    return getattr(client, method)(
        f"/api/v1/{path}", body, content_type="application/json", headers=headers
    )


@pytest.fixture
def ann(client, key) -> None:
    _call(client, key, "post", "products", [
        {"id": "p1", "name": "Mug", "category": "Kitchen", "price": "9.99"},
        {"id": "p2", "name": "Teapot", "category": "Tea", "price": "25.00"},
        {"id": "p3", "name": "Scarf", "category": "Wear", "price": "15.00"},
    ])  # fmt: skip
    other = {**ORDER, "id": "o2", "customer": {"id": "c2", "email": "bob@example.com"}}
    other["line_items"] = [{"product_id": "p2", "quantity": 3, "unit_price": "25.00"}]
    _call(client, key, "post", "orders", other)
    address = {"shipping_address": "Ada Lovelace\n1 Engine Row", "payment_method": "Visa 4242"}
    _call(client, key, "post", "orders", {**ORDER, **address})


def test_a_customers_recommendations_name_each_pick_and_its_reason(client, key, store, ann):
    fit_recommendations(store=store)

    response = _call(client, key, "get", "customers/c1/recommendations?strategy=cross_sell")

    assert response.status_code == 200
    body = response.json()
    assert (body["customer_id"], body["strategy"]) == ("c1", "cross_sell")
    picks = {p["product_id"]: p for p in body["picks"]}
    assert "p1" not in picks  # bought already
    assert picks["p2"]["name"] == "Teapot"
    assert all(p["reason"] for p in body["picks"])


def test_the_export_holds_the_profile_and_the_orders_with_their_lines(client, key, ann):
    data = _call(client, key, "get", "customers/c1/data").json()

    assert (data["customer"]["email"], data["customer"]["first_name"]) == (
        "ada@example.com",
        "Ada",
    )
    (order,) = data["orders"]
    assert (order["id"], order["shipping_address"]) == ("1001", "Ada Lovelace\n1 Engine Row")
    assert [line["product_id"] for line in order["line_items"]] == ["p1"]
    assert data["messages"] == data["events"] == data["checkouts"] == []


def test_an_erased_customer_is_gone_by_their_id_and_their_orders_lose_the_address(client, key, ann):
    erased = _call(client, key, "delete", "customers/c1")

    assert (erased.status_code, erased.json()) == (200, {"id": "c1", "erased": True})
    assert _call(client, key, "get", "customers/c1").status_code == 404
    assert _call(client, key, "get", "customers/c1/data").status_code == 404
    assert not Customer.objects.filter(email="ada@example.com").exists()
    order = _call(client, key, "get", "orders/1001").json()
    assert (order["shipping_address"], order["payment_method"], order["total"]) == (
        "",
        "",
        "17.98",
    )
    listed = _call(client, key, "get", "customers").json()
    assert [c["id"] for c in listed["items"]] == ["c2"]
