"""Shopify's fulfillments/create and fulfillments/update: the order fulfilled when its
fulfillment is made and delivered (the flows' delivery trigger) once the fulfillment's
shipment_status is "delivered"; each fulfillment kept by its id, and one that arrives
before its order kept until the order comes."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from aftersale.integrations.models import PlatformFulfillment, WebhookDelivery
from aftersale.integrations.tests.test_shopify_webhooks import (
    _body,
    _delivered,
    _headers,
    _payload,
    _post,
    _work,
    shop,
)
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Order, OrderStatus
from aftersale.stores.models import Store

__all__ = ["shop"]  # the fixture
ORDER = "5678901234567"


def _fulfillment(**changes: Any) -> bytes:
    return _payload("fulfillments_create.json", **changes)


def _send(
    client: Client, shop: Store, body: bytes, event_id: str, topic: str = "fulfillments/create"
) -> WebhookDelivery:
    return _delivered(client, shop, topic, body, event_id)


def _order(client: Client, shop: Store, event_id: str) -> None:
    body = _body("orders_create.json")
    assert _post(client, shop, "orders/create", body, event_id=event_id).status_code == 200
    _work()


DELIVERED = {"shipment_status": "delivered", "updated_at": "2024-03-04T14:30:00-05:00"}


def test_a_fulfillment_marks_the_order_fulfilled_and_delivered_once_the_carrier_says_so(
    client: Client, shop: Store
) -> None:
    _order(client, shop, "98300001")

    made = _send(client, shop, _fulfillment(), "98300002")

    assert (made.status, made.outcome) == (RunStatus.DONE, "fulfillment applied")
    order = Order.objects.get(external_id=ORDER)
    assert (order.status, order.delivered_at) == (OrderStatus.FULFILLED, None)
    assert order.fulfilled_at is not None
    assert order.fulfilled_at.isoformat() == "2024-03-02T19:30:00+00:00"

    _send(client, shop, _fulfillment(**DELIVERED), "98300003", topic="fulfillments/update")

    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.delivered_at is not None
    assert order.delivered_at.isoformat() == "2024-03-04T19:30:00+00:00"


def test_a_fulfillment_with_a_wrong_signature_is_refused_and_nothing_is_stored(
    client: Client, shop: Store
) -> None:
    body = _fulfillment()
    response = _post(
        client,
        shop,
        "fulfillments/create",
        body,
        event_id="98300002",
        headers=_headers("fulfillments/create", body, event_id="98300002", secret="wrong"),
    )

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_the_same_fulfillment_delivered_twice_is_kept_once(client: Client, shop: Store) -> None:
    _order(client, shop, "98300001")
    _send(client, shop, _fulfillment(), "98300002")

    again = _post(client, shop, "fulfillments/create", _fulfillment(), event_id="98300002")
    _send(client, shop, _fulfillment(), "98300004")  # another event id: a second delivery

    assert again.json()["detail"] == "already received"
    assert PlatformFulfillment.objects.count() == 1


def test_a_delivered_fulfillment_before_its_order_is_kept_and_applied_when_the_order_comes(
    client: Client, shop: Store
) -> None:
    delivery = _send(client, shop, _fulfillment(**DELIVERED), "98300003")

    assert delivery.outcome == (
        f"fulfillment kept: order {ORDER} not received yet, applied when it is"
    )
    assert not Order.objects.exists()

    _order(client, shop, "98300001")

    assert Order.objects.get(external_id=ORDER).status == OrderStatus.DELIVERED


def test_an_older_fulfillment_version_arriving_last_does_not_take_the_delivery_back(
    client: Client, shop: Store
) -> None:
    _order(client, shop, "98300001")
    _send(client, shop, _fulfillment(**DELIVERED), "98300003", topic="fulfillments/update")

    _send(client, shop, _fulfillment(), "98300002")

    assert Order.objects.get(external_id=ORDER).status == OrderStatus.DELIVERED


def test_a_fulfillment_without_its_order_id_is_a_400_naming_the_field(
    client: Client, shop: Store
) -> None:
    body = json.loads(_fulfillment())
    del body["order_id"]

    response = _post(client, shop, "fulfillments/create", json.dumps(body).encode(), event_id="9")

    assert (response.status_code, response.json()["detail"]) == (400, "order_id: missing")
