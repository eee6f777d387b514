"""Shopify's products/create, products/update and products/delete: the catalog entry
(title, type, vendor, lowest variant price, stock over the variants, image) at its
updated_at, an older version arriving last changing nothing, and a deleted product out
of stock for good (never recommended again)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.test import Client

from aftersale.catalog.models import Product
from aftersale.catalog.selectors import variant_url
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
from aftersale.stores.models import Store
from aftersale.stores.services import update_store_settings

__all__ = ["shop"]  # the fixture
PRODUCT = "8012345678901"


def _product(**changes: Any) -> bytes:
    return _payload("products_create.json", **changes)


_send = _delivered


def test_a_product_is_written_to_the_catalog(client: Client, shop: Store) -> None:
    delivery = _send(client, shop, "products/create", _product(), "98400001")

    assert delivery.status == RunStatus.DONE, delivery.error
    product = Product.objects.get(store=shop, external_id=PRODUCT)
    assert (product.name, product.category, product.brand) == (
        "Walnut Notebook",
        "Notebooks",
        "Paper & Co",
    )
    assert (product.price, product.stock) == (Decimal("18.99"), 15)
    assert product.image_url.endswith("/walnut-notebook.jpg")


def test_a_product_with_a_wrong_signature_is_refused(client: Client, shop: Store) -> None:
    body = _product()
    headers = _headers("products/create", body, event_id="98400001", secret="wrong")

    response = _post(client, shop, "products/create", body, event_id="1", headers=headers)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_the_same_product_event_twice_is_stored_once(client: Client, shop: Store) -> None:
    _send(client, shop, "products/create", _product(), "98400001")

    again = _post(client, shop, "products/create", _product(), event_id="98400001")

    assert again.json()["detail"] == "already received"
    assert WebhookDelivery.objects.count() == 1


def test_an_older_product_version_arriving_last_changes_nothing(
    client: Client, shop: Store
) -> None:
    newer = _product(title="Walnut Notebook (new)", updated_at="2024-03-01T08:00:00-05:00")
    _send(client, shop, "products/update", newer, "98400002")

    older = _send(client, shop, "products/create", _product(), "98400001")

    assert older.outcome == STALE_OUTCOME
    assert Product.objects.get(external_id=PRODUCT).name == "Walnut Notebook (new)"


def test_a_deleted_product_is_out_of_stock_whatever_arrives_after(
    client: Client, shop: Store
) -> None:
    _send(client, shop, "products/create", _product(), "98400001")

    _send(client, shop, "products/delete", json.dumps({"id": int(PRODUCT)}).encode(), "98400003")
    later = _product(updated_at="2024-03-09T08:00:00-05:00")
    _send(client, shop, "products/update", later, "98400004")

    assert Product.objects.get(external_id=PRODUCT).stock == 0


def test_deleting_a_product_never_seen_creates_nothing(client: Client, shop: Store) -> None:
    delivery = _send(client, shop, "products/delete", b'{"id": 8019999999999}', "98400005")

    assert delivery.status == RunStatus.DONE
    assert not Product.objects.filter(store=shop).exists()


def test_a_product_without_a_title_is_a_400_naming_the_field(client: Client, shop: Store) -> None:
    body = json.loads(_product())
    del body["title"]

    response = _post(client, shop, "products/create", json.dumps(body).encode(), event_id="9")

    assert (response.status_code, response.json()["detail"]) == (400, "title: missing")


def test_a_product_keeps_its_variants_tags_and_page_on_the_shop_it_came_from(
    client: Client, shop: Store
) -> None:
    Store.objects.filter(pk=shop.pk).update(website_url="")  # no website: the shop's pages
    _send(client, shop, "products/create", _product(), "98400001")

    product = Product.objects.get(store=shop, external_id=PRODUCT)
    assert product.variants == [
        {"id": "45012345678901", "sku": "NB-WAL-A5", "price": "18.99", "stock": 12, "title": "A5"},
        {"id": "45012345678903", "sku": "NB-WAL-A4", "price": "24.99", "stock": 3, "title": "A4"},
    ]
    assert product.tags == ["gift", "paper"]
    assert product.url == "https://test-shop.myshopify.com/products/walnut-notebook"
    assert variant_url(product=product, variant_external_id="45012345678903") == (
        "https://test-shop.myshopify.com/products/walnut-notebook?variant=45012345678903"
    )
    assert variant_url(product=product, variant_external_id="999") == product.url


def test_a_store_with_a_website_gets_its_product_pages_there_and_an_update_moves_them(
    client: Client, shop: Store
) -> None:
    update_store_settings(store=shop, website_url="https://paper.example.com/")
    _send(client, shop, "products/create", _product(), "98400001")
    first = Product.objects.get(store=shop, external_id=PRODUCT)
    assert first.url == "https://paper.example.com/products/walnut-notebook"

    newer = _payload("products_update.json", tags="", handle="walnut-notebook-a5")
    _send(client, shop, "products/update", newer, "98400002")

    product = Product.objects.get(store=shop, external_id=PRODUCT)
    assert product.url == "https://paper.example.com/products/walnut-notebook-a5"
    assert product.tags == []  # told: no tags any more
    assert [v["sku"] for v in product.variants] == ["NB-WAL-A5", "NB-WAL-A4"]
