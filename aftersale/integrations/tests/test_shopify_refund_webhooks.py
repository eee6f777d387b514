"""Shopify's refunds/create: the refund's successful transactions added to the order's
refunded total, each refund counted once whichever delivery told of it (the refund's
own, or an order's refunds[]), and a refund that arrives before its order kept until
the order comes."""

from __future__ import annotations

import json
from decimal import Decimal

from django.test import Client

from aftersale.integrations.models import PlatformRefund, WebhookDelivery
from aftersale.integrations.tests.test_shopify_webhooks import _body, _post, _work, shop
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Order, OrderStatus
from aftersale.stores.models import Store

__all__ = ["shop"]  # the fixture
ORDER = "5678901234567"


def _refund(client: Client, shop: Store, event_id: str) -> WebhookDelivery:
    response = _post(
        client, shop, "refunds/create", _body("refunds_create.json"), event_id=event_id
    )
    assert response.status_code == 200, response.content
    _work()
    return WebhookDelivery.objects.get(pk=response.json()["delivery"])


def _order(client: Client, shop: Store, event_id: str, body: bytes | None = None) -> None:
    body = _body("orders_create.json") if body is None else body
    assert _post(client, shop, "orders/create", body, event_id=event_id).status_code == 200
    _work()


def test_a_refund_adds_its_successful_transactions_to_the_orders_refunded_total(
    client: Client, shop: Store
) -> None:
    _order(client, shop, "98200001")

    delivery = _refund(client, shop, "98200002")

    assert (delivery.status, delivery.outcome) == (RunStatus.DONE, "refund applied")
    order = Order.objects.get(external_id=ORDER)
    assert order.refunded_total == Decimal("19.99")  # the failed transaction not counted
    assert order.status != OrderStatus.REFUNDED  # 19.99 of 61.97: still a purchase


def test_the_same_refund_delivered_twice_is_counted_once(client: Client, shop: Store) -> None:
    _order(client, shop, "98200001")
    _refund(client, shop, "98200002")

    _refund(client, shop, "98200003")  # another event id: a second delivery of it

    assert Order.objects.get(external_id=ORDER).refunded_total == Decimal("19.99")
    assert PlatformRefund.objects.count() == 1


def test_a_refund_before_its_order_is_kept_and_applied_when_the_order_comes(
    client: Client, shop: Store
) -> None:
    delivery = _refund(client, shop, "98200002")

    assert delivery.status == RunStatus.DONE
    assert delivery.outcome == f"refund kept: order {ORDER} not received yet, applied when it is"
    assert not Order.objects.exists()

    _order(client, shop, "98200001")

    assert Order.objects.get(external_id=ORDER).refunded_total == Decimal("19.99")


def test_a_refund_also_listed_in_a_later_order_version_is_counted_once(
    client: Client, shop: Store
) -> None:
    _order(client, shop, "98200001")
    _refund(client, shop, "98200002")
    later = json.loads(_body("orders_create.json"))
    later |= {
        "updated_at": "2024-03-02T11:00:05-05:00",
        "financial_status": "partially_refunded",
        "refunds": [json.loads(_body("refunds_create.json"))],
    }

    _order(client, shop, "98200003", json.dumps(later).encode())

    assert Order.objects.get(external_id=ORDER).refunded_total == Decimal("19.99")


def test_a_refund_without_its_order_id_is_a_dead_letter(client: Client, shop: Store) -> None:
    refund = json.loads(_body("refunds_create.json"))
    del refund["order_id"]

    response = _post(client, shop, "refunds/create", json.dumps(refund).encode(), event_id="1")

    assert (response.status_code, response.json()["detail"]) == (400, "order_id: missing")
