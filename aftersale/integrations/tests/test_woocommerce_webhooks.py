"""WooCommerce's webhooks, posted to the real endpoint with WooCommerce's REST order
resource and its X-WC-Webhook-* headers: the ping answered and not stored, signed
orders stored and applied by the worker, one delivery per (webhook, order, version)."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.models import WebhookDelivery
from aftersale.integrations.platforms.deliveries import (
    DELETED_ORDER_OUTCOME,
    connect_platform,
    process_deliveries,
)
from aftersale.integrations.platforms.woocommerce import sign
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Order, OrderStatus
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from conftest import T0

PAYLOADS = Path(__file__).parent / "payloads" / "woocommerce"
SECRET = "wc-secret-0f1e2d3c4b5a6978"


@pytest.fixture
def shop(store: Store) -> Store:
    connect_platform(store=store, platform="woocommerce", secret=SECRET, now=T0)
    return store


def _order(**changes: Any) -> bytes:
    order = json.loads((PAYLOADS / "order_created.json").read_bytes())
    return json.dumps(order | changes).encode()


def _post(
    client: Client, store: Store, body: bytes, *, topic: str = "order.created", secret: str = SECRET
) -> Any:
    return client.post(
        f"/webhooks/woocommerce/{store.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": sign(body=body, secret=secret),
            "X-WC-Webhook-ID": "143",
            "X-WC-Webhook-Delivery-ID": "a7f2c9",
        },
    )


def test_the_ping_sent_when_the_webhook_is_saved_is_answered_and_not_stored(
    client: Client, shop: Store
) -> None:
    response = client.post(
        f"/webhooks/woocommerce/{shop.slug}/",
        data=b"webhook_id=143",
        content_type="application/x-www-form-urlencoded",
    )

    assert (response.status_code, response.json()["detail"]) == (200, "ping received")
    assert not WebhookDelivery.objects.exists()


def test_a_signed_order_is_stored_and_applied_by_the_worker(client: Client, shop: Store) -> None:
    response = _post(client, shop, _order())

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.platform, delivery.event_id) == ("woocommerce", "143:727:2024-03-01T16:00:05")
    assert process_deliveries(now=lambda: T0) == 1
    delivery.refresh_from_db()
    assert delivery.status == RunStatus.DONE, delivery.error
    order = Order.objects.get(store=shop)
    assert (order.external_id, order.total, order.currency, order.discount_codes) == (
        "727",
        Decimal("44.88"),
        "EUR",
        ["spring5"],
    )
    assert (order.status, order.fulfilled_at) == (OrderStatus.PAID, None)
    assert order.shipping_address == "969 Market, 94103, San Francisco, CA, US"
    lines = sorted(
        (li.product.external_id, li.variant_id, li.quantity, li.unit_price)
        for li in order.line_items.all()
    )
    assert lines == [("22", "23", 1, Decimal("19.00")), ("93", "", 2, Decimal("12.99"))]
    customer = Customer.objects.get(store=shop)
    assert (customer.external_id, customer.email, customer.accepts_marketing) == (
        "26",
        "grace@example.com",
        False,
    )


def test_a_wrong_signature_is_refused_and_nothing_is_stored(client: Client, shop: Store) -> None:
    assert _post(client, shop, _order(), secret="not-the-secret").status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_the_same_order_version_sent_again_is_stored_once_and_a_new_version_again(
    client: Client, shop: Store
) -> None:
    assert _post(client, shop, _order()).json()["detail"] == "queued"
    assert _post(client, shop, _order()).json()["detail"] == "already received"

    completed = _order(
        status="completed",
        date_modified_gmt="2024-03-02T09:00:00",
        date_completed_gmt="2024-03-02T09:00:00",
    )
    assert _post(client, shop, completed, topic="order.updated").json()["detail"] == "queued"

    assert WebhookDelivery.objects.count() == 2
    process_deliveries(now=lambda: T0)
    assert Order.objects.get().fulfilled_at is not None


def test_an_order_without_a_billing_email_is_a_400_naming_the_field(
    client: Client, shop: Store
) -> None:
    response = _post(client, shop, _order(billing={"first_name": "Grace"}))

    assert (response.status_code, response.json()["detail"]) == (400, "billing.email: missing")


def test_an_orders_refunds_add_up_to_its_refunded_total(client: Client, shop: Store) -> None:
    refunded = _order(
        date_modified_gmt="2024-03-03T10:00:00",
        refunds=[{"id": 726, "reason": "", "total": "-10.00"}, {"id": 730, "total": "-2.50"}],
    )

    _post(client, shop, refunded, topic="order.updated")
    process_deliveries(now=lambda: T0)

    assert Order.objects.get().refunded_total == Decimal("12.50")


def _customer(**changes: Any) -> bytes:
    customer = json.loads((PAYLOADS / "customer_created.json").read_bytes())
    return json.dumps(customer | changes).encode()


def test_a_signed_customer_is_stored_and_applied_with_its_name_and_email(
    client: Client, shop: Store
) -> None:
    response = _post(client, shop, _customer(), topic="customer.created")

    assert response.status_code == 200, response.content
    assert WebhookDelivery.objects.get().event_id == "143:26:2024-02-20T10:12:40"
    assert process_deliveries(now=lambda: T0) == 1
    assert WebhookDelivery.objects.get().status == RunStatus.DONE
    customer = Customer.objects.get(store=shop)
    assert (customer.external_id, customer.email, customer.first_name, customer.last_name) == (
        "26",
        "grace@example.com",
        "Grace",
        "Hopper",
    )


def test_a_customer_with_a_wrong_signature_is_refused_and_nothing_is_stored(
    client: Client, shop: Store
) -> None:
    response = _post(client, shop, _customer(), topic="customer.created", secret="wrong")

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Customer.objects.exists()


def test_the_same_customer_version_sent_again_is_stored_once(client: Client, shop: Store) -> None:
    assert _post(client, shop, _customer(), topic="customer.created").json()["detail"] == "queued"
    again = _post(client, shop, _customer(), topic="customer.updated")

    assert again.json()["detail"] == "already received"
    assert WebhookDelivery.objects.count() == 1


def test_an_older_customer_version_arriving_last_changes_nothing(
    client: Client, shop: Store
) -> None:
    renamed = _customer(last_name="Murray", date_modified_gmt="2024-03-05T08:00:00")
    assert _post(client, shop, renamed, topic="customer.updated").status_code == 200
    process_deliveries(now=lambda: T0)

    assert _post(client, shop, _customer(), topic="customer.created").status_code == 200
    process_deliveries(now=lambda: T0)

    assert Customer.objects.get(store=shop).last_name == "Murray"
    assert [d.outcome for d in WebhookDelivery.objects.order_by("pk")][1].startswith("older")


def _product(**changes: Any) -> bytes:
    product = json.loads((PAYLOADS / "product_created.json").read_bytes())
    return json.dumps(product | changes).encode()


def test_a_signed_product_is_written_to_the_catalog(client: Client, shop: Store) -> None:
    assert _post(client, shop, _product(), topic="product.created").status_code == 200
    process_deliveries(now=lambda: T0)

    product = Product.objects.get(store=shop, external_id="794")
    assert (product.name, product.category, product.price, product.stock) == (
        "Walnut Notebook",
        "Notebooks",
        Decimal("18.99"),
        12,
    )
    assert product.url == "https://shop.example.com/product/walnut-notebook/"
    assert product.image_url.endswith("/walnut-notebook.jpg")


def test_a_product_with_a_wrong_signature_is_refused(client: Client, shop: Store) -> None:
    response = _post(client, shop, _product(), topic="product.created", secret="wrong")

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_the_same_product_version_twice_is_stored_once_and_an_older_one_changes_nothing(
    client: Client, shop: Store
) -> None:
    newer = _product(name="Walnut Notebook II", date_modified_gmt="2024-03-01T08:00:00")
    assert _post(client, shop, newer, topic="product.updated").json()["detail"] == "queued"
    assert _post(client, shop, newer, topic="product.updated").json()["detail"] == (
        "already received"
    )
    process_deliveries(now=lambda: T0)

    assert _post(client, shop, _product(), topic="product.created").status_code == 200
    process_deliveries(now=lambda: T0)

    assert Product.objects.get(external_id="794").name == "Walnut Notebook II"


def test_a_deleted_product_arrives_as_its_id_only_and_is_out_of_stock_for_good(
    client: Client, shop: Store
) -> None:
    assert _post(client, shop, _product(), topic="product.created").status_code == 200
    process_deliveries(now=lambda: T0)

    deleted = _post(client, shop, b'{"id": 794}', topic="product.deleted")
    assert deleted.status_code == 200, deleted.content
    later = _product(date_modified_gmt="2024-03-09T08:00:00")
    assert _post(client, shop, later, topic="product.updated").status_code == 200
    process_deliveries(now=lambda: T0)

    assert Product.objects.get(external_id="794").stock == 0


def test_a_deleted_order_arrives_as_its_id_only_and_is_cancelled(
    client: Client, shop: Store
) -> None:
    assert _post(client, shop, _order()).status_code == 200
    process_deliveries(now=lambda: T0)

    deleted = _post(client, shop, b'{"id": 727}', topic="order.deleted")
    assert deleted.status_code == 200, deleted.content
    process_deliveries(now=lambda: T0)

    order = Order.objects.get(store=shop)
    assert (order.status, order.cancelled_at) == (OrderStatus.CANCELLED, T0)
    assert WebhookDelivery.objects.get(topic="order.deleted").outcome == (
        "order deleted: cancelled"
    )


def test_an_order_deleted_before_it_arrives_is_stored_cancelled(
    client: Client, shop: Store
) -> None:
    assert _post(client, shop, b'{"id": 727}', topic="order.deleted").status_code == 200
    assert _post(client, shop, _order()).status_code == 200

    process_deliveries(now=lambda: T0)

    assert Order.objects.get(store=shop).status == OrderStatus.CANCELLED
    created = WebhookDelivery.objects.get(topic="order.created")
    assert (created.status, created.outcome) == (RunStatus.DONE, DELETED_ORDER_OUTCOME)


def test_a_deleted_order_with_a_wrong_signature_is_refused(client: Client, shop: Store) -> None:
    response = _post(client, shop, b'{"id": 727}', topic="order.deleted", secret="wrong")

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def _woo_history() -> list[tuple[str, bytes]]:
    return [
        ("customer.created", _customer()),
        ("product.created", _product()),
        ("order.created", _order()),
        (
            "order.updated",
            _order(
                status="completed",
                date_modified_gmt="2024-03-02T09:00:00",
                date_completed_gmt="2024-03-02T09:00:00",
            ),
        ),
        (
            "customer.updated",
            _customer(last_name="Murray", date_modified_gmt="2024-03-05T08:00:00"),
        ),
        ("product.updated", _product(price="21.00", date_modified_gmt="2024-03-06T08:00:00")),
        ("order.created", _order(id=728, date_modified_gmt="2024-03-03T10:00:00")),
        ("order.deleted", b'{"id": 728}'),
    ]


def _woo_snapshot(store: Store) -> list[tuple[Any, ...]]:
    orders = [
        (o.external_id, o.status, o.total, o.fulfilled_at, o.cancelled_at, o.customer.last_name)
        for o in Order.objects.filter(store=store).select_related("customer").order_by("pk")
    ]
    products = list(
        Product.objects.filter(store=store)
        .order_by("external_id")
        .values_list("external_id", "name", "price", "stock")
    )
    customers = list(
        Customer.objects.filter(store=store)
        .order_by("external_id")
        .values_list("external_id", "email", "last_name")
    )
    return [*sorted(orders), *products, *customers]


def test_the_history_replayed_ten_times_shuffled_gives_the_same_database_as_once_in_order(
    client: Client, shop: Store
) -> None:
    history = _woo_history()
    for topic, body in history:
        assert _post(client, shop, body, topic=topic).status_code == 200
    process_deliveries(now=lambda: T0)
    other = create_store(name="Other Shop", slug="other-shop", now=T0)
    connect_platform(store=other, platform="woocommerce", secret=SECRET, now=T0)
    rng = random.Random(16)

    for _ in range(10):
        shuffled = list(history)
        rng.shuffle(shuffled)
        for topic, body in shuffled:
            assert _post(client, other, body, topic=topic).status_code == 200
            if rng.random() < 0.5:
                process_deliveries(now=lambda: T0)
    process_deliveries(now=lambda: T0)

    assert WebhookDelivery.objects.filter(store=other).count() == len(history)
    assert _woo_snapshot(other) == _woo_snapshot(shop)
    statuses = dict(Order.objects.filter(store=other).values_list("external_id", "status"))
    assert statuses == {"727": OrderStatus.FULFILLED, "728": OrderStatus.CANCELLED}
