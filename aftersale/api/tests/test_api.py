"""Specification of the API's OpenAPI schema (/api/v1/openapi.json): it documents the
errors every endpoint answers and the bounds every value is held to."""

import pytest
from django.test import Client

from aftersale.lib.bounds import (
    MAX_LINE_ITEMS,
    MAX_PRODUCTS_PER_BATCH,
    MAX_QUANTITY,
    MAX_STOCK,
    MIN_STOCK,
)

PATHS = ["/api/v1/orders", "/api/v1/checkouts", "/api/v1/events", "/api/v1/products"]


@pytest.fixture
def openapi(client: Client) -> dict:
    return client.get("/api/v1/openapi.json").json()


def _component(openapi: dict, name: str) -> dict:
    return openapi["components"]["schemas"][name]


@pytest.mark.parametrize("path", PATHS)
def test_every_endpoint_documents_the_errors_it_answers_with_their_bodies(openapi, path):
    responses = openapi["paths"][path]["post"]["responses"]

    for status in ("400", "401", "413"):
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    invalid = responses["422"]["content"]["application/json"]["schema"]
    assert invalid == {"$ref": "#/components/schemas/ValidationErrorOut"}
    assert _component(openapi, "FieldError")["required"] == ["type", "loc", "msg"]


def test_email_fields_are_documented_as_emails_of_at_most_254_characters(openapi):
    email = _component(openapi, "CustomerIn")["properties"]["email"]

    assert (email["format"], email["maxLength"]) == ("email", 254)


def test_the_bounds_of_numbers_lists_and_ids_are_in_the_schema(openapi):
    line = _component(openapi, "LineItemIn")["properties"]
    order = _component(openapi, "OrderIn")["properties"]
    product = _component(openapi, "ProductIn")["properties"]
    batch = openapi["paths"]["/api/v1/products"]["post"]["requestBody"]["content"]

    assert (line["quantity"]["minimum"], line["quantity"]["maximum"]) == (0, MAX_QUANTITY)
    assert line["unit_price"]["anyOf"][0]["maximum"] == 9999999999.99
    assert order["line_items"]["maxItems"] == MAX_LINE_ITEMS
    assert order["id"]["anyOf"][0]["maxLength"] == 100
    stock = product["stock"]["anyOf"][0]
    assert (stock["minimum"], stock["maximum"]) == (MIN_STOCK, MAX_STOCK)
    assert batch["application/json"]["schema"]["maxItems"] == MAX_PRODUCTS_PER_BATCH
    assert "2200-01-01" in order["placed_at"]["description"]
