"""The API's bad-input suite: schemathesis against the OpenAPI schema, in process over
WSGI with a real store key, and hypothesis posting malformed, oversized and out-of-range
JSON to every endpoint. No answer is a server error, every answer is as documented, and
a refused request stores nothing."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.orders.models import Checkout, CheckoutLine, LineItem, Order
from aftersale.tracking.models import Event
from aftersale.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# Valid and schema-violating requests alike, 125 of each kind an operation.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=125
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


@pytest.fixture
def key(api_key: str) -> str:
    return api_key


@pytest.fixture
def _test_connection_kept() -> Iterator[None]:
    """Requests through the WSGI app keep the test's database connection (Django's test
    client does the same): by default every request closes it when it starts and ends."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
@pytest.mark.usefixtures("_test_connection_kept")
def test_the_api_answers_as_its_openapi_schema_documents(case, key):
    response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
    event(f"answered {response.status_code}")


# --- hypothesis: malformed, oversized and out-of-range JSON --------------------------

MODELS = (Order, LineItem, Checkout, CheckoutLine, Product, Customer, Event)

# Values chosen to be wrong for a field: the wrong type, too large, too long, out of
# range, control characters, dates that overflow when moved to UTC.
NASTY_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31, 2**62, 2**63, -(2**63) - 1, 10**20, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["9999999999.999", "1e20", "-0.01", "99999999999", "NaN"]),
    st.sampled_from(
        ["9999-12-31T23:00-14:00", "0001-01-01T01:00+14:00", "9999-12-31", "0001-01-01"]
    ),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x9F), max_size=20),
    st.sampled_from(["\x00", "a\x01b", "\x0b", "\x1b[31m", "\ufffe", " ", "   "]),
    st.integers(min_value=90, max_value=1100).map(lambda n: "x" * n),
)
JSON_VALUES = st.recursive(
    NASTY_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)

CUSTOMER = {"id": "c1", "email": "ada@example.com"}
LINE = {"product_id": "p1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}
VALID = {
    "orders": {"id": "o1", "customer": CUSTOMER, "placed_at": "2024-03-01T10:00:00Z"},
    "checkouts": {"id": "k1", "customer": CUSTOMER, "started_at": "2024-03-01T10:00:00Z"},
    "events": {"customer": CUSTOMER, "event": "quiz", "occurred_at": "2024-03-01T10:00:00Z"},
    "products": {"id": "p1", "name": "Mug"},
}
FIELDS = {
    "orders": ["id", "placed_at", "paid_at", "total", "currency", "discount_codes",
               "payment_method", "shipping_address", "expected_delivery_on"],
    "checkouts": ["id", "started_at", "completed_at", "total", "recovery_url", "order_id"],
    "events": ["event", "occurred_at", "properties"],
    "products": ["id", "name", "brand", "price", "stock", "url", "image_url"],
}  # fmt: skip
CUSTOMER_FIELDS = ["id", "email", "first_name", "time_zone", "locale", "birthday"]
LINE_FIELDS = ["product_id", "name", "quantity", "unit_price"]


@st.composite
def _damaged(draw: st.DrawFn, path: str) -> object:
    """A body for `path` that starts valid and has a few fields replaced by bad values,
    or is not the right shape at all."""
    body: dict[str, Any] = json.loads(json.dumps(VALID[path]))
    if path in ("orders", "checkouts"):
        lines = draw(st.integers(min_value=1, max_value=3))
        body["line_items"] = [dict(LINE, product_id=f"p{n}") for n in range(lines)]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(["top", "customer", "line"]))
        if where == "customer" and "customer" in body:
            body["customer"][draw(st.sampled_from(CUSTOMER_FIELDS))] = draw(JSON_VALUES)
        elif where == "line" and "line_items" in body:
            line = draw(st.sampled_from(body["line_items"]))
            line[draw(st.sampled_from(LINE_FIELDS))] = draw(JSON_VALUES)
        else:
            body[draw(st.sampled_from(FIELDS[path]))] = draw(JSON_VALUES)
    shaped: object = [body] if path == "products" else body
    return draw(st.one_of(st.just(shaped), st.just(shaped), JSON_VALUES))


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.mark.parametrize("path", sorted(VALID))
@settings(
    max_examples=130,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_malformed_and_out_of_range_payloads_get_no_server_error_and_store_nothing(
    client: Client, key, path, data
):
    body = data.draw(_damaged(path))
    before = _counts()

    response = client.post(
        f"/api/v1/{path}",
        json.dumps(body),
        content_type="application/json",
        headers={"X-API-Key": key},
    )

    event(f"answered {response.status_code}")
    assert response.status_code < 500, (body, response.content)
    assert response["Content-Type"].startswith("application/json")
    if response.status_code >= 400:
        assert _counts() == before, (body, response.content)
