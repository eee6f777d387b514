"""Shopify's checkouts/create and checkouts/update, stored for checkout recovery: the
checkout at its updated_at (customer, lines, total, recovery URL), completed when
Shopify says so, an older version arriving last changing nothing, and a checkout
without an email yet (nobody to write to) changing nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.test import Client

from aftersale.integrations.models import WebhookDelivery
from aftersale.integrations.platforms.deliveries import STALE_OUTCOME
from aftersale.integrations.tests.test_shopify_webhooks import (
    _delivered,
    _headers,
    _payload,
    _post,
    shop,
)
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Checkout
from aftersale.stores.models import Store

__all__ = ["shop"]  # the fixture
CHECKOUT = "35012345678901"


def _checkout(**changes: Any) -> bytes:
    return _payload("checkouts_create.json", **changes)


_send = _delivered


def test_a_checkout_is_stored_for_recovery(client: Client, shop: Store) -> None:
    delivery = _send(client, shop, "checkouts/create", _checkout(), "98500001")

    assert delivery.status == RunStatus.DONE, delivery.error
    checkout = Checkout.objects.get(store=shop, external_id=CHECKOUT)
    assert checkout.recovery_url.endswith("/recover?key=3f2e1d")
    assert checkout.completed_at is None
    assert checkout.total == Decimal(json.loads(_checkout())["total_price"])
    assert checkout.lines.count() == 2


def test_a_completed_checkout_is_completed(client: Client, shop: Store) -> None:
    _send(client, shop, "checkouts/create", _checkout(), "98500001")
    done = _checkout(
        completed_at="2024-03-01T10:00:00-05:00", updated_at="2024-03-01T10:00:01-05:00"
    )

    _send(client, shop, "checkouts/update", done, "98500002")

    assert Checkout.objects.get(external_id=CHECKOUT).completed_at is not None


def test_a_checkout_with_a_wrong_signature_is_refused(client: Client, shop: Store) -> None:
    body = _checkout()
    headers = _headers("checkouts/create", body, event_id="98500001", secret="wrong")

    assert (
        _post(client, shop, "checkouts/create", body, event_id="1", headers=headers).status_code
        == 401
    )
    assert not WebhookDelivery.objects.exists()


def test_the_same_checkout_event_twice_is_stored_once_and_an_older_version_changes_nothing(
    client: Client, shop: Store
) -> None:
    newer = _checkout(
        abandoned_checkout_url="https://test-shop.myshopify.com/recover/new",
        updated_at="2024-03-01T09:50:00-05:00",
    )
    _send(client, shop, "checkouts/update", newer, "98500003")
    again = _post(client, shop, "checkouts/update", newer, event_id="98500003")

    older = _send(client, shop, "checkouts/create", _checkout(), "98500001")

    assert again.json()["detail"] == "already received"
    assert older.outcome == STALE_OUTCOME
    assert Checkout.objects.get().recovery_url == "https://test-shop.myshopify.com/recover/new"


def test_a_checkout_without_an_email_changes_nothing(client: Client, shop: Store) -> None:
    body = json.loads(_checkout())
    body["email"] = None
    body["customer"] = None

    delivery = _send(client, shop, "checkouts/create", json.dumps(body).encode(), "98500004")

    assert delivery.status == RunStatus.DONE
    assert not Checkout.objects.exists()


def test_a_checkout_arriving_after_its_order_is_completed_by_it_not_recovered(
    client: Client, shop: Store
) -> None:
    _send(client, shop, "orders/create", _payload("orders_create.json"), "98500010")

    _send(client, shop, "checkouts/create", _checkout(), "98500011")

    checkout = Checkout.objects.get(store=shop, external_id=CHECKOUT)
    assert checkout.order is not None
    assert checkout.order.external_id == "5678901234567"
    assert checkout.completed_at == checkout.order.placed_at


def test_a_late_checkout_does_not_give_back_a_consent_withdrawn_since(
    client: Client, shop: Store
) -> None:
    _send(client, shop, "customers/update", _payload("customers_update.json"), "98500012")

    _send(client, shop, "checkouts/create", _checkout(), "98500013")  # customer of 03-01

    customer = Checkout.objects.get(store=shop, external_id=CHECKOUT).customer
    assert (customer.first_name, customer.accepts_marketing) == ("Augusta Ada", False)
