"""Specification of the JSON ingest API: POST /api/v1/orders and /api/v1/products."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from aftersale.catalog.models import Product
from aftersale.orders.models import LineItem, Order, OrderStatus

ORDER = {
    "id": 1001,
    "customer": {"id": "c1", "email": "Ada@Example.com", "first_name": "Ada"},
    "placed_at": "2024-03-01T10:00:00",
    "line_items": [
        {
            "product_id": "p1",
            "name": "Mug",
            "category": "Kitchen",
            "quantity": 2,
            "unit_price": "9.99",
        },
    ],
    "discount_codes": ["WELCOME10"],
    "total": 17.98,
}


@pytest.fixture
def key(api_key: str) -> str:
    return api_key


def _post(client: Client, path: str, body: object, **headers: str):
    return client.post(f"/api/v1/{path}", body, content_type="application/json", headers=headers)


def test_a_request_without_a_valid_key_is_refused_with_401(client, store):
    assert _post(client, "orders", ORDER).status_code == 401
    assert _post(client, "orders", ORDER, Authorization="Bearer wrong").status_code == 401
    assert not Order.objects.exists()


def test_a_new_order_is_created_with_201_and_a_repeat_answers_200(client, store, key):
    first = _post(client, "orders", ORDER, Authorization=f"Bearer {key}")
    second = _post(client, "orders", ORDER, **{"X-API-Key": key})

    assert (first.status_code, first.json()) == (201, {"id": "1001", "created": True})
    assert (second.status_code, second.json()) == (200, {"id": "1001", "created": False})
    order = Order.objects.get(store=store)
    assert (order.total, order.discount_codes, order.customer.email) == (
        Decimal("17.98"),
        ["WELCOME10"],
        "ada@example.com",
    )
    assert LineItem.objects.filter(order=order).count() == 1
    assert Product.objects.get(store=store).name == "Mug"


def test_a_later_status_event_updates_the_order(client, store, key):
    _post(client, "orders", ORDER, Authorization=f"Bearer {key}")

    shipped = _post(
        client,
        "orders",
        {**ORDER, "fulfilled_at": "2024-03-02T08:00:00Z"},
        Authorization=f"Bearer {key}",
    )

    assert (shipped.status_code, shipped.json()["created"]) == (200, False)
    assert Order.objects.get(store=store).status == OrderStatus.FULFILLED


def test_order_details_and_customer_locale_are_kept_and_filled_in_later(client, store, key):
    customer = {"id": "c1", "email": "ada@example.com", "locale": "de-DE", "birthday": "1990-05-17"}
    _post(client, "orders", {**ORDER, "customer": customer}, Authorization=f"Bearer {key}")
    details = {
        "payment_method": "Visa ending 4242",
        "shipping_address": "Ada Lovelace\n12 Example Road\nLondon",
        "expected_delivery_on": "2024-03-05",
    }

    _post(client, "orders", {**ORDER, **details}, Authorization=f"Bearer {key}")

    order = Order.objects.get(store=store)
    assert order.payment_method == "Visa ending 4242"
    assert order.shipping_address.splitlines()[1] == "12 Example Road"
    assert order.expected_delivery_on == dt.date(2024, 3, 5)
    assert (order.customer.locale, order.customer.birthday) == ("de_DE", dt.date(1990, 5, 17))


def test_an_invalid_order_is_refused_with_422_naming_the_field(client, store, key):
    bad = {**ORDER, "customer": {"id": "c1", "email": "not-an-email"}}

    response = _post(client, "orders", bad, Authorization=f"Bearer {key}")

    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert locations == [["body", "order", "customer", "email"]]
    assert not Order.objects.exists()


def test_a_negative_quantity_is_refused_with_its_path(client, store, key):
    bad = {**ORDER, "line_items": [{"product_id": "p1", "quantity": -1, "unit_price": 1}]}

    response = _post(client, "orders", bad, Authorization=f"Bearer {key}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "order", "line_items", 0, "quantity"]


def test_products_are_created_and_updated(client, store, key):
    products = [
        {"id": "p1", "name": "Mug", "price": "9.50", "stock": 4},
        {"id": 2, "name": "Tea", "category": "Drinks"},
    ]

    response = _post(client, "products", products, **{"X-API-Key": key})
    _post(client, "products", [{"id": "p1", "name": "Big mug"}], **{"X-API-Key": key})

    assert (response.status_code, response.json()) == (200, {"received": 2})
    mug = Product.objects.get(store=store, external_id="p1")
    assert (mug.name, mug.price, mug.stock) == ("Big mug", Decimal("9.50"), 4)


def test_the_openapi_schema_builds(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert {"/api/v1/orders", "/api/v1/products"} <= set(response.json()["paths"])


CUSTOMER = {"id": "c1", "email": "ada@example.com"}
LINE = {"product_id": "p1", "quantity": 1, "unit_price": "9.99"}


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("orders", {**ORDER, "id": "   "}, ["body", "order", "id"]),
        ("orders", {**ORDER, "customer": {**CUSTOMER, "id": " "}}, ["customer", "id"]),
        (
            "orders",
            {**ORDER, "line_items": [{**LINE, "product_id": "  "}]},
            ["line_items", 0, "product_id"],
        ),
        ("products", [{"id": "   ", "name": "Mug"}], ["products", 0, "id"]),
    ],
)
def test_a_blank_id_is_refused_with_422_naming_the_field(client, store, key, path, body, where):
    response = _post(client, path, body, Authorization=f"Bearer {key}")

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][-len(where) :] == where and "must not be blank" in error["msg"]
    assert not Order.objects.exists() and not Product.objects.exists()


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "file:///etc/passwd",
        "ftp://x.example/a",
    ],
)
@pytest.mark.parametrize("field", ["url", "image_url"])
def test_a_product_link_that_is_not_http_is_refused(client, store, key, field, link):
    response = _post(
        client, "products", [{"id": "p1", "name": "Mug", field: link}], **{"X-API-Key": key}
    )

    assert response.status_code == 422
    assert "not a valid http(s) URL" in response.json()["detail"][0]["msg"]
    assert not Product.objects.exists()


def test_a_product_with_web_links_is_kept(client, store, key):
    product = {"id": "p1", "name": "Mug", "url": "https://shop.example/mug", "image_url": ""}

    assert _post(client, "products", [product], **{"X-API-Key": key}).status_code == 200
    assert Product.objects.get(store=store).url == "https://shop.example/mug"


def test_an_order_in_a_currency_that_is_not_iso_4217_is_refused(client, store, key):
    response = _post(client, "orders", {**ORDER, "currency": "XYZ"}, **{"X-API-Key": key})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == "currency" and "not an ISO 4217 currency code" in error["msg"]
    assert not Order.objects.exists()
    accepted = _post(client, "orders", {**ORDER, "currency": "JPY"}, **{"X-API-Key": key})
    assert accepted.status_code == 201
    assert Order.objects.get().currency == "JPY"


def test_a_customer_email_with_an_internationalised_domain_is_stored_as_a_relay_takes_it(
    client, store, key
):
    order = {**ORDER, "customer": {"id": "c1", "email": "Ada@Bücher.example"}}

    assert _post(client, "orders", order, **{"X-API-Key": key}).status_code == 201
    assert Order.objects.get().customer.email == "ada@xn--bcher-kva.example"


def test_a_customer_email_over_254_characters_is_refused(client, store, key):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".example"
    order = {**ORDER, "customer": {"id": "c1", "email": email}}

    response = _post(client, "orders", order, **{"X-API-Key": key})

    assert response.status_code == 422
    assert "longer than 254 characters" in response.json()["detail"][0]["msg"]
    assert not Order.objects.exists()


def test_a_body_over_the_size_limit_is_refused_with_413_in_json(client, store, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    products = [{"id": f"p{n}", "name": "Mug " * 20} for n in range(200)]

    response = _post(client, "products", products, **{"X-API-Key": key})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "too large" in response.json()["detail"]
    assert not Product.objects.exists()
