"""Shopify's mandatory privacy webhooks (customers/data_request, customers/redact,
shop/redact), posted with the payloads Shopify documents: the customer's data written
for the merchant, their personal data erased, or that of every customer of the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.customers.models import Customer
from aftersale.integrations.models import WebhookDelivery
from aftersale.integrations.personal_data import erase_customer_data
from aftersale.integrations.platforms.erasure import privacy_folder
from aftersale.integrations.tests.test_shopify_webhooks import (
    _body,
    _post,
    _post_history,
    _work,
    shop,
)
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from conftest import T0

__all__ = ["shop"]  # the fixture


@pytest.fixture(autouse=True)
def _home(settings: Settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def _request(client: Client, shop: Store, topic: str, name: str, event_id: str) -> WebhookDelivery:
    response = _post(client, shop, topic, _body(name), event_id=event_id)
    assert response.status_code == 200, response.content
    assert _work() == 1
    return WebhookDelivery.objects.get(pk=response.json()["delivery"])


def test_a_data_request_writes_the_customers_data_for_the_merchant(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, [0, 1, 2])
    _work()

    delivery = _request(
        client, shop, "customers/data_request", "customers_data_request.json", "98100001"
    )

    assert delivery.status == RunStatus.DONE
    files = list(privacy_folder(store=shop).glob("*.json"))
    assert [f.name.startswith("customer-7012345678901-request-9999-") for f in files] == [True]
    assert delivery.outcome == f"customer data written to privacy/test-shop/{files[0].name}"
    answer = json.loads(files[0].read_text())
    assert (answer["customer_id"], answer["data_request_id"]) == ("7012345678901", "9999")
    assert answer["customer"]["fields"]["email"] == "ada@example.com"
    assert [o["fields"]["external_id"] for o in answer["orders"]] == ["5678901234567"]
    assert len(answer["line_items"]) == 2
    assert Customer.objects.get().email == "ada@example.com"  # nothing erased


def test_a_data_request_about_an_unknown_customer_says_nothing_is_kept(
    client: Client, shop: Store
) -> None:
    delivery = _request(
        client, shop, "customers/data_request", "customers_data_request.json", "98100002"
    )

    assert delivery.status == RunStatus.DONE
    (file,) = privacy_folder(store=shop).glob("*.json")
    assert json.loads(file.read_text())["note"] == "no data is kept about this customer"


def test_a_customer_redact_erases_their_data_and_their_data_request_answers(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, [0, 1, 2])
    _work()
    _request(client, shop, "customers/data_request", "customers_data_request.json", "98100003")

    delivery = _request(client, shop, "customers/redact", "customers_redact.json", "98100004")

    assert (delivery.status, delivery.outcome) == (
        RunStatus.DONE,
        "customer redacted: personal data erased",
    )
    customer = Customer.objects.get()
    assert (customer.email, customer.first_name, customer.accepts_marketing) == ("", "", False)
    assert Order.objects.get().shipping_address == ""
    assert list(privacy_folder(store=shop).glob("*.json")) == []
    # Every delivery about them (the redact request included) is emptied.
    assert {bytes(d.body) for d in WebhookDelivery.objects.exclude(topic="shop/redact")} == {b""}


def test_a_shop_redact_erases_every_customer_of_the_store(client: Client, shop: Store) -> None:
    _post_history(client, shop, [0, 1, 5])
    _work()
    assert Customer.objects.filter(store=shop).exclude(email="").exists()

    delivery = _request(client, shop, "shop/redact", "shop_redact.json", "98100005")

    assert delivery.status == RunStatus.DONE
    assert delivery.outcome.startswith("shop redacted: ")
    assert not Customer.objects.filter(store=shop).exclude(email="").exists()
    assert set(Order.objects.values_list("shipping_address", flat=True)) == {""}


def test_a_privacy_request_without_its_customer_is_a_dead_letter(
    client: Client, shop: Store
) -> None:
    body = b'{"shop_id": 954889, "shop_domain": "test-shop.myshopify.com"}'

    response = _post(client, shop, "customers/redact", body, event_id="98100006")

    assert response.status_code == 400
    assert response.json()["detail"] == "customer: missing"


def test_erasing_a_customer_in_any_way_deletes_their_data_request_answers(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, [0, 1])
    _work()
    _request(client, shop, "customers/data_request", "customers_data_request.json", "98100007")

    erase_customer_data(store=shop, customer=Customer.objects.get(), now=T0)

    assert list(privacy_folder(store=shop).glob("*.json")) == []
