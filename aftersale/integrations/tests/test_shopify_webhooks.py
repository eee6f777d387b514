"""Shopify's webhooks, posted to the real endpoint with recorded payloads (Shopify's REST
order resource and its X-Shopify-* headers): verified, stored and answered at once,
applied later by the worker, in any order and any number of times to the same end."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.models import PlatformConnection, WebhookDelivery
from aftersale.integrations.personal_data import erase_customer_data
from aftersale.integrations.platforms.deliveries import (
    KEEP_DONE,
    STALE_OUTCOME,
    NotADeadLetter,
    connect_platform,
    dead_letters,
    process_deliveries,
    prune_deliveries,
    replay_delivery,
)
from aftersale.integrations.platforms.shopify import sign
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Checkout, Order, OrderStatus
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.worker.jobs import run_jobs
from conftest import T0

PAYLOADS = Path(__file__).parent / "payloads" / "shopify"
SECRET = "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"
# The deliveries of two orders' lives, a product's and a checkout's, in the order
# Shopify sent them.
HISTORY = [
    ("customers/create", "customers_create.json"),
    ("orders/create", "orders_create.json"),
    ("orders/paid", "orders_paid.json"),
    ("orders/fulfilled", "orders_fulfilled.json"),
    ("orders/updated", "orders_updated.json"),
    ("orders/create", "orders_create_2.json"),
    ("orders/cancelled", "orders_cancelled.json"),
    ("customers/update", "customers_update.json"),
    ("fulfillments/create", "fulfillments_create.json"),
    ("fulfillments/update", "fulfillments_update.json"),
    ("refunds/create", "refunds_create.json"),
    # (later indices: the catalog and the checkout, which other tests do not count on)
    ("products/create", "products_create.json"),
    ("products/update", "products_update.json"),
    ("checkouts/create", "checkouts_create.json"),
    ("checkouts/update", "checkouts_update.json"),
]


def _body(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def _headers(topic: str, body: bytes, *, event_id: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body=body, secret=secret),
        "X-Shopify-Shop-Domain": "test-shop.myshopify.com",
        "X-Shopify-API-Version": "2024-07",
        "X-Shopify-Webhook-Id": f"b54557e4-bdd9-4b37-8a5f-bf7d70bc{event_id[-4:]:0>4}",
        "X-Shopify-Triggered-At": "2024-03-01T15:00:02.123456789Z",
        "X-Shopify-Event-Id": event_id,
    }


def _post(
    client: Client,
    store: Store,
    topic: str,
    body: bytes,
    *,
    event_id: str,
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"/webhooks/shopify/{store.slug}/",
        data=body,
        content_type="application/json",
        headers=_headers(topic, body, event_id=event_id) if headers is None else headers,
    )


def _payload(name: str, **changes: Any) -> bytes:
    """The recorded payload `name` with some of its top-level fields replaced."""
    return json.dumps(json.loads(_body(name)) | changes).encode()


def _delivered(
    client: Client, store: Store, topic: str, body: bytes, event_id: str
) -> WebhookDelivery:
    """Post `body` as `topic` (answered 200), let the worker apply it, and return it."""
    response = _post(client, store, topic, body, event_id=event_id)
    assert response.status_code == 200, response.content
    _work()
    return WebhookDelivery.objects.get(pk=response.json()["delivery"])


def _post_history(client: Client, store: Store, order: list[int]) -> None:
    for i in order:
        topic, name = HISTORY[i]
        assert _post(client, store, topic, _body(name), event_id=f"9800{i:04d}").status_code == 200


def _work() -> int:
    return process_deliveries(now=lambda: T0)


def _snapshot(store: Store) -> list[tuple[Any, ...]]:
    """What the store's orders say, without row ids."""
    return [
        (
            o.external_id,
            o.status,
            o.currency,
            o.total,
            tuple(o.discount_codes),
            o.refunded_total,
            o.shipping_address,
            o.placed_at,
            o.fulfilled_at,
            o.delivered_at,
            o.refunded_at,
            o.cancelled_at,
            o.customer.external_id,
            o.customer.email,
            o.customer.first_name,
            o.customer.accepts_marketing,
            tuple(
                sorted(
                    (li.product.external_id, li.quantity, li.unit_price)
                    for li in o.line_items.all()
                )
            ),
        )
        for o in Order.objects.filter(store=store)
        .select_related("customer")
        .order_by("external_id")
    ]


def _catalog_and_checkouts(store: Store) -> list[tuple[Any, ...]]:
    """What the store's products and checkouts say, without row ids."""
    products = [
        (
            *(p.external_id, p.name, p.category, p.price, p.stock, p.url, p.image_url),
            p.awaiting_catalog,
        )
        for p in Product.objects.filter(store=store).order_by("external_id")
    ]
    # A completed checkout keeps the cart it had when its order came (orders' rule), which
    # depends on the arrival order; the order has the lines bought: only open carts count.
    checkouts = [
        (
            *(c.external_id, c.currency, c.started_at, c.completed_at, c.recovery_url),
            c.order.external_id if c.order else "",
            None
            if c.completed_at
            else (
                c.total,
                tuple(sorted((li.product.external_id, li.quantity) for li in c.lines.all())),
            ),
        )
        for c in Checkout.objects.filter(store=store)
        .select_related("order")
        .order_by("external_id")
    ]
    return [*products, *checkouts]


@pytest.fixture
def shop(store: Store) -> Store:
    connect_platform(store=store, platform="shopify", secret=SECRET, now=T0)
    return store


def test_a_signed_order_is_stored_at_once_and_applied_by_the_worker(
    client: Client, shop: Store
) -> None:
    body = _body("orders_create.json")

    response = _post(client, shop, "orders/create", body, event_id="98000001")

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == RunStatus.QUEUED
    assert bytes(delivery.body) == body
    assert (delivery.topic, delivery.event_id, delivery.shop_domain, delivery.api_version) == (
        "orders/create",
        "98000001",
        "test-shop.myshopify.com",
        "2024-07",
    )
    assert delivery.triggered_at is not None
    assert not Order.objects.exists()  # nothing is processed in the request

    assert _work() == 1

    delivery.refresh_from_db()
    assert delivery.status == RunStatus.DONE
    assert delivery.outcome.startswith("applied: 1 created")
    order = Order.objects.get(store=shop)
    assert order.external_id == "5678901234567"
    assert (order.total, order.currency, order.discount_codes) == (
        Decimal("61.97"),
        "USD",
        ["WELCOME10"],
    )
    assert order.status == OrderStatus.PLACED  # financial_status pending
    assert order.shipping_address.startswith("12 Analytical Row, 62701, Springfield")
    lines = sorted(
        (li.product.external_id, li.variant_id, li.sku, li.quantity, li.unit_price)
        for li in order.line_items.all()
    )
    assert lines == [  # each line a line of its product, keeping the variant bought
        ("8012345678901", "45012345678901", "NB-WAL-A5", 2, Decimal("19.99")),
        ("8012345678902", "45012345678902", "PEN-BRASS", 1, Decimal("26.00")),
    ]
    customer = Customer.objects.get(store=shop)
    assert (customer.external_id, customer.email, customer.accepts_marketing) == (
        "7012345678901",
        "ada@example.com",
        True,
    )


def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_stored(
    client: Client, shop: Store
) -> None:
    body = _body("orders_create.json")
    forged = _headers("orders/create", body, event_id="98000001", secret="not-the-secret")
    unsigned = {k: v for k, v in forged.items() if k != "X-Shopify-Hmac-Sha256"}
    tampered = _headers("orders/create", body, event_id="98000001")

    assert (
        _post(client, shop, "orders/create", body, event_id="1", headers=forged).status_code == 401
    )
    assert (
        _post(client, shop, "orders/create", body, event_id="1", headers=unsigned).status_code
        == 401
    )
    assert (
        _post(
            client,
            shop,
            "orders/create",
            body.replace(b"61.97", b"0.01"),
            event_id="1",
            headers=tampered,
        ).status_code
        == 401
    )
    assert not WebhookDelivery.objects.exists()


def test_a_store_without_a_shopify_connection_is_not_found(client: Client, store: Store) -> None:
    response = _post(client, store, "orders/create", _body("orders_create.json"), event_id="1")

    assert response.status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_a_retried_delivery_is_answered_but_stored_once(client: Client, shop: Store) -> None:
    body = _body("orders_create.json")
    for _ in range(3):
        assert _post(client, shop, "orders/create", body, event_id="98000001").status_code == 200
    # Without an event id, the webhook id says it is the same delivery.
    headers = _headers("orders/paid", _body("orders_paid.json"), event_id="98000002")
    del headers["X-Shopify-Event-Id"]
    for _ in range(2):
        response = _post(client, shop, "", _body("orders_paid.json"), event_id="", headers=headers)
        assert response.status_code == 200

    assert WebhookDelivery.objects.count() == 2
    assert _work() == 2
    assert Order.objects.count() == 1


def test_an_update_older_than_the_one_applied_changes_nothing(client: Client, shop: Store) -> None:
    _post(client, shop, "orders/updated", _body("orders_updated.json"), event_id="98000004")
    _work()
    _post(client, shop, "orders/create", _body("orders_create.json"), event_id="98000001")
    _post(client, shop, "orders/paid", _body("orders_paid.json"), event_id="98000002")
    _work()

    outcomes = list(WebhookDelivery.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes[1:] == [STALE_OUTCOME, STALE_OUTCOME]
    order = Order.objects.get()
    assert order.status == OrderStatus.FULFILLED
    assert order.refunded_total == Decimal("20.00")


def test_a_cancelled_order_is_cancelled_with_its_refund(client: Client, shop: Store) -> None:
    _post_history(client, shop, [5, 6])
    _work()

    order = Order.objects.get(external_id="5678901234568")
    assert order.status == OrderStatus.CANCELLED
    assert order.cancelled_at is not None
    assert order.refunded_total == Decimal("28.00")
    assert order.total == Decimal("28.00")


def test_the_history_replayed_ten_times_shuffled_gives_the_same_database_as_once_in_order(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, list(range(len(HISTORY))))
    _work()
    other = create_store(name="Other Shop", slug="other-shop", now=T0)
    connect_platform(store=other, platform="shopify", secret=SECRET, now=T0)
    rng = random.Random(16)

    for _ in range(10):
        order = list(range(len(HISTORY)))
        rng.shuffle(order)
        for i in order:
            _post_history(client, other, [i])
            if rng.random() < 0.5:
                _work()
    _work()

    assert WebhookDelivery.objects.filter(store=other).count() == len(HISTORY)
    assert _snapshot(other) == _snapshot(shop)
    assert len(_snapshot(shop)) == 2
    assert _catalog_and_checkouts(other) == _catalog_and_checkouts(shop)
    notebook = Product.objects.get(store=other, external_id="8012345678901")
    assert (notebook.price, notebook.stock, notebook.awaiting_catalog) == (
        Decimal("17.99"),
        13,
        False,
    )
    assert Product.objects.get(store=other, external_id="8012345678902").awaiting_catalog
    delivered = Order.objects.get(store=other, external_id="5678901234567")
    assert delivered.status == OrderStatus.DELIVERED  # its fulfillment delivered
    customer = Customer.objects.get(store=other)
    assert (customer.first_name, customer.accepts_marketing) == ("Augusta Ada", False)


def test_a_malformed_payload_is_a_400_naming_the_field_and_kept_as_a_dead_letter(
    client: Client, shop: Store
) -> None:
    order = json.loads(_body("orders_create.json"))
    del order["line_items"][1]["price"]
    missing_price = json.dumps(order).encode()

    response = _post(client, shop, "orders/create", missing_price, event_id="98000001")
    not_json = _post(client, shop, "orders/create", b"{not json", event_id="98000002")

    assert response.status_code == 400
    assert response.json()["detail"] == "line_items[1].price: missing"
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["detail"]
    letters = list(dead_letters(store=shop))
    assert [bytes(d.body) for d in letters] == [b"{not json", missing_price]
    assert letters[1].error == "line_items[1].price: missing"
    assert _work() == 0
    assert not Order.objects.exists()


def test_a_dead_letter_replayed_is_processed_again(client: Client, shop: Store) -> None:
    _post(client, shop, "orders/create", b"[]", event_id="98000001")
    delivery = WebhookDelivery.objects.get()
    # Say a later release reads what this one could not: the stored body is what is replayed.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(body=_body("orders_create.json"))

    replayed = replay_delivery(delivery_id=delivery.pk, now=lambda: T0)

    assert replayed.status == RunStatus.DONE
    assert Order.objects.count() == 1
    with pytest.raises(NotADeadLetter):
        replay_delivery(delivery_id=delivery.pk, now=lambda: T0)


def test_a_topic_not_handled_yet_is_answered_and_not_stored(client: Client, shop: Store) -> None:
    body = b'{"id": 1, "title": "Walnut Notebook"}'

    response = _post(client, shop, "collections/create", body, event_id="98000009")

    assert response.status_code == 200
    assert not WebhookDelivery.objects.exists()


def test_the_worker_pass_applies_queued_deliveries(client: Client, shop: Store) -> None:
    _post_history(client, shop, [1, 2])

    done = run_jobs(home=Path("/nonexistent"))

    assert done.webhooks == 2
    assert Order.objects.get().status == OrderStatus.PAID


def test_deadletters_list_and_replay_commands(
    client: Client, shop: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    _post(client, shop, "orders/create", b"{not json", event_id="98000001")
    delivery = WebhookDelivery.objects.get()

    call_command("deadletters", "list")
    listed = capsys.readouterr().out
    with pytest.raises(CommandError, match="failed again"):
        call_command("deadletters", "replay", str(delivery.pk))
    replayed = capsys.readouterr().out

    assert str(delivery.pk) in listed and "orders/create" in listed and "not JSON" in listed
    assert "failed" in replayed and "not JSON" in replayed


def test_a_customer_who_unsubscribes_in_shopify_stops_accepting_marketing(
    client: Client, shop: Store
) -> None:
    _post(client, shop, "customers/create", _body("customers_create.json"), event_id="98100001")
    _work()
    assert Customer.objects.get().accepts_marketing is True

    _post(client, shop, "customers/update", _body("customers_update.json"), event_id="98100002")
    _work()

    customer = Customer.objects.get()
    assert (customer.first_name, customer.accepts_marketing) == ("Augusta Ada", False)


def test_an_older_customer_update_or_order_does_not_give_back_a_withdrawn_consent(
    client: Client, shop: Store
) -> None:
    _post(client, shop, "customers/update", _body("customers_update.json"), event_id="98100002")
    _work()

    _post(client, shop, "customers/create", _body("customers_create.json"), event_id="98100001")
    # The order embeds the customer as they were on March 1st: still subscribed.
    _post(client, shop, "orders/create", _body("orders_create.json"), event_id="98000001")
    _work()

    assert Order.objects.count() == 1
    customer = Customer.objects.get()
    assert (customer.first_name, customer.accepts_marketing) == ("Augusta Ada", False)
    first = WebhookDelivery.objects.get(event_id="98100001")
    assert first.outcome == STALE_OUTCOME


def test_platforms_connect_keeps_the_secret_encrypted(
    client: Client,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Any,
) -> None:
    settings.PUBLIC_URL = "https://aftersale.example.com"
    monkeypatch.setenv("AFTERSALE_SHOPIFY_WEBHOOK_SECRET", SECRET)

    call_command("platforms", "connect", "shopify", "--store", store.slug)

    url = f"https://aftersale.example.com/webhooks/shopify/{store.slug}/"
    assert f"POST {url} " in capsys.readouterr().out
    stored = PlatformConnection.objects.get(store=store)
    assert SECRET not in stored.webhook_secret
    body = _body("orders_create.json")
    assert _post(client, store, "orders/create", body, event_id="98000001").status_code == 200


def test_erasing_a_customer_empties_the_webhook_bodies_about_them(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, [0, 1, 2])
    _work()
    customer = Customer.objects.get()

    erase_customer_data(store=shop, customer=customer, now=T0)

    assert [bytes(d.body) for d in WebhookDelivery.objects.all()] == [b"", b"", b""]
    assert WebhookDelivery.objects.count() == 3  # a retry is still known
    _post_history(client, shop, [1])
    assert WebhookDelivery.objects.count() == 3


def test_applied_deliveries_are_deleted_after_thirty_days_and_dead_letters_kept(
    client: Client, shop: Store
) -> None:
    _post_history(client, shop, [1, 2])
    _post(client, shop, "orders/create", b"{not json", event_id="98000009")
    _work()

    assert prune_deliveries(now=T0 + KEEP_DONE) == 0
    assert prune_deliveries(now=T0 + KEEP_DONE + dt.timedelta(seconds=1)) == 2
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == [RunStatus.FAILED]
    assert Order.objects.count() == 1


def test_only_post_is_accepted_and_a_delivery_without_a_topic_is_a_400(
    client: Client, shop: Store
) -> None:
    body = _body("orders_create.json")
    headers = _headers("orders/create", body, event_id="98000001")
    del headers["X-Shopify-Topic"]

    assert client.get(f"/webhooks/shopify/{shop.slug}/").status_code == 405
    response = _post(client, shop, "", body, event_id="", headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"] == "X-Shopify-Topic: missing"
    assert not WebhookDelivery.objects.exists()
