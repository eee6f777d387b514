"""WooCommerce's variations: each has its own page (its `permalink`, in the REST API's
`/products/<id>/variations` and in the product webhook WooCommerce sends when a
variation changes). The catalog keeps it with the variant, and an email's order line
links to the variation bought, as Shopify's lines link to `?variant=ID`."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.test import Client

from aftersale.catalog.models import Product
from aftersale.catalog.selectors import variant_url
from aftersale.integrations.csv_import import import_orders_csv
from aftersale.integrations.platforms.base import InvalidPayload
from aftersale.integrations.platforms.deliveries import process_deliveries
from aftersale.integrations.platforms.woocommerce import product_record, variation_records
from aftersale.integrations.services import receive_products
from aftersale.integrations.tests.test_woocommerce_webhooks import _order, _post, shop
from aftersale.orders.models import LineItem
from aftersale.stores.models import Store
from conftest import T0

__all__ = ["shop"]  # the fixture
PAYLOADS = Path(__file__).parent / "payloads" / "woocommerce"
BLUE_PAGE = "https://shop.example.com/product/hoodie/?attribute_pa_colour=blue"
GREY_PAGE = "https://shop.example.com/product/hoodie/?attribute_pa_colour=grey"


def _json(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_bytes())


def _hoodie(**changes: Any) -> bytes:
    """The variable product 800 (its webhook names its variations by id only)."""
    product = _json("product_created.json") | {
        "id": 800,
        "name": "Hoodie",
        "type": "variable",
        "sku": "",
        "price": "",
        "permalink": "https://shop.example.com/product/hoodie/",
        "variations": [801, 802],
    }
    return json.dumps(product | changes).encode()


def _variation(**changes: Any) -> bytes:
    return json.dumps(_json("product_variation_updated.json") | changes).encode()


def _deliver(client: Client, store: Store, body: bytes, topic: str = "product.updated") -> None:
    assert _post(client, store, body, topic=topic).status_code == 200
    process_deliveries(now=lambda: T0)


def _variants(store: Store, external_id: str = "800") -> list[dict[str, Any]]:
    return list(Product.objects.get(store=store, external_id=external_id).variants)


def test_a_variations_own_webhook_is_a_variant_of_its_product_with_its_page(
    client: Client, shop: Store
) -> None:
    _deliver(client, shop, _hoodie(), topic="product.created")

    _deliver(client, shop, _variation())

    hoodie = Product.objects.get(store=shop, external_id="800")
    assert _variants(shop) == [
        {
            "id": "801",
            "sku": "HOOD-BLUE",
            "price": "45.00",
            "stock": 7,
            "title": "Blue",
            "url": BLUE_PAGE,
        }
    ]
    assert variant_url(product=hoodie, variant_external_id="801") == BLUE_PAGE
    assert variant_url(product=hoodie, variant_external_id="999") == hoodie.url
    # The variation is no product of its own.
    assert list(Product.objects.filter(store=shop).values_list("external_id", flat=True)) == ["800"]


def test_a_variation_changes_alone_and_an_older_version_of_it_changes_nothing(
    client: Client, shop: Store
) -> None:
    receive_products(
        store=shop,
        records=[
            product_record(
                _json("product_created.json") | {"id": 800, "name": "Hoodie"},
                variations=variation_records(_json("admin_product_variations.json")),
            )
        ],
    )

    _deliver(client, shop, _variation(price="39.00", date_modified_gmt="2024-03-01T08:00:00"))
    _deliver(client, shop, _variation(price="45.00"))  # 21 February: older

    assert [(v["id"], v["price"]) for v in _variants(shop)] == [("801", "39.00"), ("802", "42.00")]
    # The product's own later webhook (variations by id only) keeps them.
    _deliver(client, shop, _hoodie(date_modified_gmt="2024-03-02T08:00:00"))
    assert [v["url"] for v in _variants(shop)] == [BLUE_PAGE, GREY_PAGE]


def test_the_rest_apis_variations_are_the_products_variants() -> None:
    variants = variation_records(_json("admin_product_variations.json"))

    assert [(v.external_id, v.sku, v.price, v.stock, v.title, v.url) for v in variants] == [
        ("801", "HOOD-BLUE", Decimal("45.00"), 7, "Blue", BLUE_PAGE),
        ("802", "HOOD-GREY", Decimal("42.00"), None, "Grey", GREY_PAGE),
    ]
    bad = _json("admin_product_variations.json")
    bad[1]["price"] = "free"
    try:
        variation_records(bad)
    except InvalidPayload as error:
        assert error.field == "[1].price"
    else:
        raise AssertionError("a bad price was read")


def test_an_orders_variation_line_links_to_the_variation_page(client: Client, shop: Store) -> None:
    _deliver(client, shop, _hoodie(id=22), topic="product.created")
    _deliver(client, shop, _variation(id=23, parent_id=22))

    _deliver(client, shop, _order(), topic="order.created")

    line = LineItem.objects.get(store=shop, product__external_id="22")
    assert line.variant_id == "23"
    assert variant_url(product=line.product, variant_external_id=line.variant_id) == BLUE_PAGE


def test_an_imported_line_under_a_variation_sku_is_folded_into_its_product(
    client: Client, shop: Store
) -> None:
    header = "order_id,email,placed_at,product_id,product_name,quantity,unit_price\n"
    row = "1,ada@example.com,2024-03-01T10:00:00,HOOD-BLUE,Hoodie - Blue,1,45.00\n"
    import_orders_csv(store=shop, stream=io.StringIO(header + row), now=T0)

    _deliver(client, shop, _hoodie(), topic="product.created")
    _deliver(client, shop, _variation())

    line = LineItem.objects.get(store=shop)
    assert (line.product.external_id, line.variant_id, line.sku) == ("800", "801", "HOOD-BLUE")
    assert variant_url(product=line.product, variant_external_id=line.variant_id) == BLUE_PAGE


def test_a_variation_arriving_before_its_product_leaves_the_product_awaiting_its_catalog(
    client: Client, shop: Store
) -> None:
    _deliver(client, shop, _variation())

    parent = Product.objects.get(store=shop, external_id="800")
    assert parent.awaiting_catalog
    assert [v["id"] for v in parent.variants] == ["801"]

    _deliver(client, shop, _hoodie(date_modified_gmt="2024-03-02T08:00:00"))

    parent.refresh_from_db()
    assert (parent.name, parent.awaiting_catalog) == ("Hoodie", False)
    assert [v["id"] for v in parent.variants] == ["801"]
