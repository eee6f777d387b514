"""Specification of POST /api/v1/events and POST /api/v1/checkouts."""

from decimal import Decimal

import pytest
from django.test import Client

from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import upsert_products
from aftersale.customers.models import Customer
from aftersale.orders.models import Checkout
from aftersale.tracking.models import Event, EventKind

CUSTOMER = {"id": "c1", "email": "Ada@Example.com", "first_name": "Ada"}
VIEW = {
    "customer": CUSTOMER,
    "event": "product_viewed",
    "occurred_at": "2024-03-01T10:00:00Z",
    "properties": {"product_id": "p1"},
}
CHECKOUT = {
    "id": 501,
    "customer": CUSTOMER,
    "started_at": "2024-03-01T10:00:00Z",
    "line_items": [{"product_id": "p1", "name": "Mug", "quantity": 2, "unit_price": "9.50"}],
    "recovery_url": "https://shop.example.com/checkouts/501/recover",
}


@pytest.fixture
def headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def mug(store) -> None:
    upsert_products(store=store, records=[ProductRecord("p1", "Mug")])


def _post(client: Client, path: str, body: object, headers: dict[str, str]):
    return client.post(f"/api/v1/{path}", body, content_type="application/json", headers=headers)


def _error_paths(response) -> list[list[object]]:
    assert response.status_code == 422
    return [error["loc"] for error in response.json()["detail"]]


def test_a_product_view_is_recorded_for_the_customer_with_201(client, store, headers, mug):
    response = _post(client, "events", VIEW, headers)

    assert response.status_code == 201
    event = Event.objects.get(pk=response.json()["id"])
    assert (event.kind, event.customer.email) == (EventKind.PRODUCT_VIEWED, "ada@example.com")
    assert event.data["product"] == "p1"


def test_a_custom_event_keeps_its_name_and_properties(client, store, headers):
    body = {**VIEW, "event": "quiz_completed", "properties": {"score": 7, "tags": ["a"]}}

    response = _post(client, "events", body, headers)

    assert (response.status_code, response.json()["kind"]) == (201, "custom")
    assert Event.objects.get().data == {
        "name": "quiz_completed",
        "properties": {"score": 7, "tags": ["a"]},
    }


def test_a_view_of_an_unknown_product_is_refused_with_422_naming_it(client, store, headers, mug):
    body = {**VIEW, "properties": {"product_id": "p9"}}

    response = _post(client, "events", body, headers)

    assert _error_paths(response) == [["body", "event", "properties", "product_id"]]
    assert "p9" in response.json()["detail"][0]["msg"]
    assert not Event.objects.exists() and not Customer.objects.exists()


def test_a_view_without_a_product_id_is_refused_with_422(client, store, headers):
    response = _post(client, "events", {**VIEW, "properties": {}}, headers)

    assert _error_paths(response) == [["body", "event", "properties", "product_id"]]


def test_an_event_without_a_name_or_time_is_refused_naming_the_fields(client, store, headers):
    body = {"customer": CUSTOMER, "event": "", "properties": {}}

    response = _post(client, "events", body, headers)

    assert _error_paths(response) == [["body", "event", "event"], ["body", "event", "occurred_at"]]


def test_events_need_the_stores_key(client, store):
    assert _post(client, "events", VIEW, {}).status_code == 401


def test_a_new_checkout_is_created_with_201_and_a_repeat_answers_200(client, store, headers):
    first = _post(client, "checkouts", CHECKOUT, headers)
    second = _post(client, "checkouts", CHECKOUT, headers)

    assert (first.status_code, first.json()) == (201, {"id": "501", "created": True})
    assert (second.status_code, second.json()) == (200, {"id": "501", "created": False})
    checkout = Checkout.objects.get(store=store)
    assert (checkout.total, checkout.currency) == (Decimal("19.00"), store.currency)
    assert [(line.product.name, line.quantity) for line in checkout.lines.all()] == [("Mug", 2)]


def test_a_checkout_reported_again_completed_keeps_its_lines_and_gains_completion(
    client, store, headers
):
    _post(client, "checkouts", CHECKOUT, headers)
    done = {
        **CHECKOUT,
        "completed_at": "2024-03-01T11:00:00Z",
        # A different cart: a completed checkout must not take it.
        "line_items": [
            {"product_id": "p1", "name": "Mug", "quantity": 5, "unit_price": "9.50"},
            {"product_id": "p2", "quantity": 1, "unit_price": "3.00"},
        ],
    }

    response = _post(client, "checkouts", done, headers)

    assert (response.status_code, response.json()["created"]) == (200, False)
    checkout = Checkout.objects.get()
    assert checkout.completed_at is not None
    assert checkout.lines.count() == 1


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"recovery_url": "javascript:alert(1)"}, ["recovery_url"]),
        ({"line_items": []}, ["line_items"]),
        ({"started_at": "yesterday"}, ["started_at"]),
        ({"customer": {"id": "c1", "email": "nope"}}, ["customer", "email"]),
    ],
)
def test_an_invalid_checkout_is_refused_with_422_naming_the_field(
    client, store, headers, change, path
):
    response = _post(client, "checkouts", {**CHECKOUT, **change}, headers)

    assert _error_paths(response) == [["body", "checkout", *path]]
    assert not Checkout.objects.exists()
