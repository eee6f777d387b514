"""Specification of the read endpoints: GET /api/v1/products, /customers and /orders, a
page at a time with filters, and each by the store's own id."""

import datetime as dt
import json

import pytest
from django.test import Client

from aftersale.api.tests.test_ingest import ORDER
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.stores.services import create_api_key

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def key(store) -> str:
    return create_api_key(store=store, name="test", now=T0)[1]


def _get(client: Client, key: str, path: str, **query: str | int):
    return client.get(f"/api/v1/{path}", query, headers={"X-API-Key": key})


def _post(client: Client, key: str, path: str, body: object):
    return client.post(
        f"/api/v1/{path}", body, content_type="application/json", headers={"X-API-Key": key}
    )


def _order(n: int, *, customer: str, placed_at: str, accepts: bool = True) -> dict:
    email = f"{customer}@example.com"
    buyer = {"id": customer, "email": email, "accepts_marketing": accepts}
    return {**ORDER, "id": f"o{n}", "customer": buyer, "placed_at": placed_at}


def test_products_are_listed_a_page_at_a_time_with_the_count_of_all(client, key):
    _post(client, key, "products", [{"id": f"p{n}", "name": f"Mug {n}"} for n in range(5)])

    first = _get(client, key, "products", limit=2).json()
    last = _get(client, key, "products", limit=2, offset=4).json()

    assert first["count"] == last["count"] == 5
    assert [p["id"] for p in first["items"]] == ["p0", "p1"]
    assert [p["id"] for p in last["items"]] == ["p4"]


def test_a_page_larger_than_100_is_refused_naming_the_limit(client, key):
    response = _get(client, key, "products", limit=101)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_products_are_filtered_by_category_stock_and_time_of_change(client, key):
    with use_clock(VirtualClock(T0)):
        _post(client, key, "products", [
            {"id": "mug", "name": "Mug", "category": "Kitchen", "stock": 0},
            {"id": "pan", "name": "Pan", "category": "Kitchen"},
            {"id": "hat", "name": "Hat", "category": "Wear", "stock": 3},
        ])  # fmt: skip
    with use_clock(VirtualClock(T0 + dt.timedelta(days=2))):
        _post(client, key, "products", [{"id": "hat", "name": "Hat", "price": "12.00"}])

    def ids(**query: str) -> list[str]:
        return [p["id"] for p in _get(client, key, "products", **query).json()["items"]]

    assert ids(category="Kitchen") == ["mug", "pan"]
    assert ids(in_stock="true") == ["pan", "hat"]
    assert ids(in_stock="false") == ["mug"]
    assert ids(updated_since="2024-03-05T00:00:00Z") == ["hat"]


def test_customers_are_filtered_by_address_consent_and_first_seen(client, key):
    with use_clock(VirtualClock(T0)):
        _post(client, key, "orders", _order(1, customer="ann", placed_at="2024-03-01T10:00:00Z"))
    with use_clock(VirtualClock(T0 + dt.timedelta(days=3))):
        _post(
            client,
            key,
            "orders",
            _order(2, customer="bob", placed_at="2024-03-06T10:00:00Z", accepts=False),
        )

    def ids(**query: str) -> list[str]:
        return [c["id"] for c in _get(client, key, "customers", **query).json()["items"]]

    assert ids() == ["ann", "bob"]
    assert ids(email="ANN@Example.com") == ["ann"]
    assert ids(accepts_marketing="false") == ["bob"]
    assert ids(created_since="2024-03-06T00:00:00Z") == ["bob"]


def test_orders_are_filtered_by_customer_and_placement_and_carry_their_lines(client, key):
    _post(client, key, "orders", _order(1, customer="ann", placed_at="2024-03-01T10:00:00Z"))
    _post(client, key, "orders", _order(2, customer="bob", placed_at="2024-03-02T10:00:00Z"))
    _post(client, key, "orders", _order(3, customer="ann", placed_at="2024-03-03T10:00:00Z"))

    def ids(**query: str) -> list[str]:
        return [o["id"] for o in _get(client, key, "orders", **query).json()["items"]]

    assert ids(customer_id="ann") == ["o1", "o3"]
    assert ids(placed_since="2024-03-02T00:00:00Z", placed_until="2024-03-03T00:00:00Z") == ["o2"]
    order = _get(client, key, "orders/o3").json()
    assert (order["customer_id"], order["total"], order["discount_codes"]) == (
        "ann",
        "17.98",
        ["WELCOME10"],
    )
    assert order["line_items"] == [
        {"product_id": "p1", "name": "Mug", "quantity": 2, "unit_price": "9.99", "total": "19.98"}
    ]


@pytest.mark.parametrize("path", ["products/nope", "customers/nope", "orders/nope"])
def test_an_unknown_id_answers_404_naming_the_path_parameter(client, key, path):
    response = _get(client, key, path)

    assert response.status_code == 404
    (error,) = response.json()["detail"]
    assert error["loc"] == ["path", "external_id"]
    assert error["msg"].startswith("this store has no such")


def test_a_time_given_as_a_number_is_refused_not_taken_for_a_unix_timestamp(client, key):
    response = _get(client, key, "orders", placed_until="0.5")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "placed_until"]


# A NUL byte in a text filter: PostgreSQL refuses it in a comparison, so it is refused first.
NUL_FILTERS = [
    ("products", "category"),
    ("orders", "customer_id"),
    ("customers", "email"),
]


@pytest.mark.parametrize(("path", "parameter"), NUL_FILTERS)
def test_a_nul_character_in_a_text_filter_is_refused_naming_the_parameter(
    client, key, path, parameter
):
    response = _get(client, key, path, **{parameter: "Kitchen\x00"})

    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["query", parameter]


@pytest.mark.parametrize("path", ["products", "customers", "orders"])
def test_a_nul_character_in_an_id_is_refused_naming_it(client, key, path):
    response = _get(client, key, f"{path}/p%001")

    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["path", "external_id"]


def test_every_text_filter_of_every_list_endpoint_is_checked_for_nul():
    from aftersale.api.api import api

    schema = api.get_openapi_schema()
    texts = sorted(
        (path.removeprefix("/api/v1/"), parameter["name"])
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method == "get" and "{" not in path
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and "string" in json.dumps(parameter["schema"])
        and '"format": "date' not in json.dumps(parameter["schema"])  # dates, times: parsed
        and "enum" not in json.dumps(parameter["schema"])
    )
    assert texts == sorted(NUL_FILTERS)
