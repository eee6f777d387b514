"""Specification of the API's bounds and text cleaning (api/schemas.py): every value
outside what the database stores is a 422 naming its field, never a 500; control
characters are dropped from names and text and refused in ids."""

import pytest
from django.test import Client

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.lib.bounds import MAX_LINE_ITEMS, MAX_PRODUCTS_PER_BATCH
from aftersale.orders.models import Checkout, LineItem, Order
from aftersale.tracking.models import Event

CUSTOMER: dict[str, object] = {"id": "c1", "email": "ada@example.com", "first_name": "Ada"}
LINE: dict[str, object] = {"product_id": "p1", "name": "Mug", "quantity": 2, "unit_price": "9.99"}
ORDER: dict[str, object] = {
    "id": "o1",
    "customer": CUSTOMER,
    "placed_at": "2024-03-01T10:00:00Z",
    "line_items": [LINE],
}
CHECKOUT: dict[str, object] = {
    "id": "k1",
    "customer": CUSTOMER,
    "started_at": "2024-03-01T10:00:00Z",
    "line_items": [LINE],
}
EVENT: dict[str, object] = {
    "customer": CUSTOMER,
    "event": "quiz_done",
    "occurred_at": "2024-03-01T10:00:00Z",
}
PRODUCT: dict[str, object] = {"id": "p1", "name": "Mug"}


@pytest.fixture
def headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _post(client: Client, path: str, body: object, headers: dict[str, str]):
    return client.post(f"/api/v1/{path}", body, content_type="application/json", headers=headers)


def _nothing_stored() -> bool:
    models = (Order, LineItem, Checkout, Product, Customer, Event)
    return not any(model.objects.exists() for model in models)


def _refused_at(response, *where: object) -> str:
    """The message of the one error, which must be a 422 at `where` (the tail of its loc)."""
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"][-len(where) :] == list(where)
    return str(error["msg"])


def _line(**change: object) -> dict[str, object]:
    return {**LINE, **change}


OUT_OF_RANGE = [
    ("orders", {**ORDER, "line_items": [_line(quantity=2**62)]}, ("line_items", 0, "quantity")),
    ("orders", {**ORDER, "line_items": [_line(quantity=2**31)]}, ("line_items", 0, "quantity")),
    (
        "orders",
        {**ORDER, "line_items": [_line(quantity=1000, unit_price="9999999999.99")]},
        ("line_items", 0),
    ),
    (
        "orders",
        {**ORDER, "line_items": [_line(quantity=1, unit_price="6000000000")] * 2},
        ("order", "line_items"),
    ),
    ("orders", {**ORDER, "total": "99999999999.99"}, ("total",)),
    ("orders", {**ORDER, "placed_at": "9999-12-31T23:00-14:00"}, ("placed_at",)),
    ("orders", {**ORDER, "placed_at": "0001-01-01T01:00+14:00"}, ("placed_at",)),
    ("orders", {**ORDER, "paid_at": "9999-12-31T23:59:59"}, ("paid_at",)),
    ("orders", {**ORDER, "expected_delivery_on": "9999-12-31"}, ("expected_delivery_on",)),
    ("orders", {**ORDER, "customer": {**CUSTOMER, "birthday": "0001-01-01"}}, ("birthday",)),
    ("orders", {**ORDER, "discount_codes": ["A"] * 1000}, ("discount_codes",)),
    (
        "checkouts",
        {**CHECKOUT, "line_items": [_line(quantity=2**62)]},
        ("line_items", 0, "quantity"),
    ),
    ("checkouts", {**CHECKOUT, "started_at": "9999-12-31T23:00-14:00"}, ("started_at",)),
    ("events", {**EVENT, "occurred_at": "0001-01-01T01:00+14:00"}, ("occurred_at",)),
    ("products", [{**PRODUCT, "stock": 2**63}], ("products", 0, "stock")),
    ("products", [{**PRODUCT, "stock": 2**31}], ("products", 0, "stock")),
    ("products", [{**PRODUCT, "stock": -(2**31) - 1}], ("products", 0, "stock")),
    ("products", [{**PRODUCT, "price": "1e20"}], ("products", 0, "price")),
]


@pytest.mark.parametrize(("path", "body", "where"), OUT_OF_RANGE)
def test_an_out_of_range_number_or_date_is_refused_with_422_naming_the_field(
    client, store, headers, path, body, where
):
    response = _post(client, path, body, headers)

    _refused_at(response, *where)
    assert _nothing_stored()


TOO_LONG = [
    ("orders", {**ORDER, "customer": {**CUSTOMER, "time_zone": "A" * 300}}, ("time_zone",)),
    ("orders", {**ORDER, "customer": {**CUSTOMER, "last_name": "x" * 101}}, ("last_name",)),
    ("orders", {**ORDER, "payment_method": "x" * 101}, ("payment_method",)),
    ("orders", {**ORDER, "line_items": [_line(name="x" * 301)]}, ("line_items", 0, "name")),
    ("checkouts", {**CHECKOUT, "order_id": "x" * 101}, ("order_id",)),
    ("products", [{**PRODUCT, "brand": "x" * 201}], ("products", 0, "brand")),
    ("products", [{**PRODUCT, "url": "https://x.example/" + "a" * 500}], ("products", 0, "url")),
]


@pytest.mark.parametrize(("path", "body", "where"), TOO_LONG)
def test_a_string_longer_than_its_column_is_refused_with_422_naming_the_field(
    client, store, headers, path, body, where
):
    _refused_at(_post(client, path, body, headers), *where)
    assert _nothing_stored()


def test_an_order_with_more_line_items_than_the_limit_is_refused(client, store, headers):
    lines = [_line(product_id=f"p{n}") for n in range(MAX_LINE_ITEMS + 1)]

    response = _post(client, "orders", {**ORDER, "line_items": lines}, headers)

    assert f"at most {MAX_LINE_ITEMS}" in _refused_at(response, "order", "line_items")
    assert _nothing_stored()


def test_a_product_batch_over_the_limit_is_refused(client, store, headers):
    products = [{"id": f"p{n}", "name": "Mug"} for n in range(MAX_PRODUCTS_PER_BATCH + 1)]

    response = _post(client, "products", products, headers)

    assert f"at most {MAX_PRODUCTS_PER_BATCH}" in _refused_at(response, "products")
    assert _nothing_stored()


def test_the_largest_values_in_range_are_stored(client, store, headers):
    line = _line(quantity=1_000_000, unit_price="9999.99")
    order = {**ORDER, "line_items": [line], "placed_at": "2199-12-31T23:00:00Z"}

    assert _post(client, "orders", order, headers).status_code == 201
    assert _post(client, "products", [{**PRODUCT, "stock": 2**31 - 1}], headers).status_code == 200
    assert LineItem.objects.get().total == 9_999_990_000
    assert Product.objects.get(external_id="p1").stock == 2**31 - 1


def test_nan_and_infinity_are_refused_as_json_that_does_not_parse(client, store, headers):
    body = '{"customer": {"id": "c1", "email": "a@b.example"}, "event": "x",'
    body += ' "occurred_at": "2024-03-01T10:00:00Z", "properties": {"score": NaN}}'

    response = client.post("/api/v1/events", body, content_type="application/json", headers=headers)

    assert response.status_code == 400 and "NaN" in response.json()["detail"]
    assert _nothing_stored()


def test_event_properties_nested_too_deep_are_refused(client, store, headers):
    deep: object = "leaf"
    for _ in range(40):
        deep = {"a": deep}

    response = _post(client, "events", {**EVENT, "properties": deep}, headers)

    assert "nested" in _refused_at(response, "event", "properties")
    assert _nothing_stored()


CONTROLS = "\x00\x01\x0b\x1b\ufffe"
# All but \x0b, which counts as whitespace and becomes a space in a name.
DROPPED = "\x00\x01\x1b\ufffe"


def test_control_characters_are_dropped_from_names_and_text(client, store, headers):
    customer = {**CUSTOMER, "first_name": f"A{DROPPED}da", "last_name": "Love\x0blace"}
    line = _line(name=f"Mug{DROPPED} blue", category="Kit\x1bchen")
    order = {
        **ORDER,
        "customer": customer,
        "line_items": [line],
        "payment_method": "Visa\x00",
        "shipping_address": "Ada\x00 Lovelace\n12\x1b Road",
    }

    assert _post(client, "orders", order, headers).status_code == 201
    stored = Order.objects.get()
    assert (stored.customer.first_name, stored.customer.last_name) == ("Ada", "Love lace")
    assert (stored.payment_method, stored.shipping_address) == ("Visa", "Ada Lovelace\n12 Road")
    product = Product.objects.get()
    assert (product.name, product.category) == ("Mug blue", "Kitchen")


def test_control_characters_are_dropped_from_product_fields(client, store, headers):
    product = {"id": "p1", "name": f"Te{DROPPED}a", "brand": "B\x01rand", "department": "D\x0b"}

    assert _post(client, "products", [product], headers).status_code == 200
    stored = Product.objects.get()
    assert (stored.name, stored.brand, stored.department) == ("Tea", "Brand", "D")


def test_control_characters_are_dropped_from_event_properties(client, store, headers):
    event = {**EVENT, "properties": {"no\x00te": "a\x00b\x1b", "list": ["\ufffex"]}}

    assert _post(client, "events", event, headers).status_code == 201
    assert Event.objects.get().data["properties"] == {"note": "ab", "list": ["x"]}


@pytest.mark.parametrize("bad", list(CONTROLS))
@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("orders", lambda c: {**ORDER, "id": f"o{c}1"}, ("order", "id")),
        ("orders", lambda c: {**ORDER, "customer": {**CUSTOMER, "id": f"c{c}1"}}, ("id",)),
        (
            "orders",
            lambda c: {**ORDER, "line_items": [_line(product_id=f"p{c}1")]},
            ("product_id",),
        ),
        ("orders", lambda c: {**ORDER, "discount_codes": [f"A{c}1"]}, ("discount_codes", 0)),
        ("checkouts", lambda c: {**CHECKOUT, "order_id": f"o{c}1"}, ("order_id",)),
        ("products", lambda c: [{**PRODUCT, "id": f"p{c}1"}], ("products", 0, "id")),
        ("products", lambda c: [{**PRODUCT, "url": f"https://x.example/{c}1"}], ("url",)),
    ],
)
def test_a_control_character_in_an_id_is_refused_with_422_naming_the_field(
    client, store, headers, path, body, where, bad
):
    message = _refused_at(_post(client, path, body(bad), headers), *where)

    assert "control character" in message
    assert _nothing_stored()


NO_MARKETING = {**CUSTOMER, "accepts_marketing": "no"}


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("events", {**EVENT, "occurred_at": 0}, ("occurred_at",)),
        ("orders", {**ORDER, "placed_at": 1709287200}, ("placed_at",)),
        ("orders", {**ORDER, "expected_delivery_on": 19783}, ("expected_delivery_on",)),
        ("orders", {**ORDER, "line_items": [_line(quantity=True)]}, ("quantity",)),
        ("orders", {**ORDER, "line_items": [_line(quantity="3")]}, ("quantity",)),
        ("products", [{**PRODUCT, "stock": "4"}], ("products", 0, "stock")),
        ("events", {**EVENT, "customer": NO_MARKETING}, ("customer", "accepts_marketing")),
    ],
)  # fmt: skip
def test_a_value_of_another_json_type_than_the_schema_documents_is_refused(
    client, store, headers, path, body, where
):
    _refused_at(_post(client, path, body, headers), *where)
    assert _nothing_stored()


@pytest.mark.parametrize("name", ["\x00\x1b", "   ", "\ufffe\x0b"])
def test_a_product_name_left_blank_by_cleaning_is_refused(client, store, headers, name):
    response = _post(client, "products", [{**PRODUCT, "name": name}], headers)

    assert "must not be blank" in _refused_at(response, "products", 0, "name")
    assert _nothing_stored()
