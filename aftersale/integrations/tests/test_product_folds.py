"""One product per product: a Shopify order export keys its lines by SKU, the webhooks and
the catalog sync by product id. Whichever comes first, a store that imports its history
and connects its shop ends with the shop's products only, the history's lines on them."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from aftersale.catalog.aliases import shared_aliases
from aftersale.catalog.models import Product, ProductAlias
from aftersale.catalog.selectors import products_awaiting_catalog
from aftersale.flows.services import process_orders
from aftersale.flows.tests.test_engine import flow_of
from aftersale.integrations.csv_import import import_orders_csv
from aftersale.integrations.platforms.deliveries import apply_catalog_versions
from aftersale.integrations.platforms.shopify import Shopify
from aftersale.integrations.tests.test_shopify_webhooks import _delivered, _payload, shop
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import LineItem, Order
from aftersale.recommendations.models import (
    AssociationKind,
    ComplementRule,
    FitRun,
    ProductAssociation,
)
from aftersale.recommendations.services import fit_recommendations
from aftersale.stores.models import Store
from aftersale.stores.services import create_api_key
from conftest import T0

__all__ = ["shop"]  # the fixture
EXPORT = Path(__file__).parent / "fixtures" / "shopify_orders_export.csv"
MUG, TEA, JUG = "8100000000001", "8100000000002", "8100000000003"
BLUE, RED = "46100000000001", "46100000000002"
ADA = "5501234567890"  # Ada's order in the export: 2 x MUG-BLUE, 1 x TEA-GREEN
HEADER = "order_id,email,placed_at,product_id,product_name,quantity,unit_price\n"


def _variant(variant_id: str, title: str, sku: str, price: str = "12.50") -> dict[str, Any]:
    return {"id": int(variant_id), "title": title, "price": price, "sku": sku}


def _product(product_id: str, title: str, *variants: dict[str, Any], **changes: Any) -> bytes:
    """Shopify's recorded products/create payload, as product `product_id`."""
    return _payload(
        "products_create.json",
        id=int(product_id),
        title=title,
        handle=title.lower().replace(" ", "-"),
        variants=list(variants),
        **changes,
    )


MUG_PAYLOAD = _product(
    MUG, "Ceramic mug", _variant(BLUE, "Blue", "MUG-BLUE"), _variant(RED, "Red", "MUG-RED")
)
TEA_PAYLOAD = _product(TEA, "Green tea", _variant("46100000000009", "100 g", "TEA-GREEN", "8.00"))


def _import_export(store: Store) -> None:
    with EXPORT.open(encoding="utf-8") as stream:
        report = import_orders_csv(store=store, stream=stream, now=T0)
    assert report.errors == []


def _import(store: Store, *rows: str) -> None:
    stream = io.StringIO(HEADER + "".join(f"{row}\n" for row in rows))
    report = import_orders_csv(store=store, stream=stream, now=T0)
    assert report.errors == []


def _connect(client: Client, store: Store, *bodies: bytes) -> None:
    for i, body in enumerate(bodies):
        delivery = _delivered(client, store, "products/create", body, f"9910{i:04d}")
        assert delivery.status == RunStatus.DONE, delivery.error


def _lines(order_external_id: str) -> list[tuple[str, str, str, int, Decimal]]:
    return sorted(
        LineItem.objects.filter(order__external_id=order_external_id).values_list(
            "product__external_id", "variant_id", "sku", "quantity", "unit_price"
        )
    )


def _products(store: Store) -> list[str]:
    return sorted(Product.objects.filter(store=store).values_list("external_id", flat=True))


def test_an_imported_history_is_folded_into_the_shop_products_when_they_arrive(
    client: Client, shop: Store
) -> None:
    _import_export(shop)
    assert _products(shop) == ["MUG-BLUE", "Notebook", "TEA-GREEN"]
    total = Order.objects.get(external_id=ADA).total

    _connect(client, shop, MUG_PAYLOAD, TEA_PAYLOAD)

    # The SKUs' products are gone; the history's lines are lines of the shop's products,
    # of the variant bought, with their quantities and prices.
    assert _products(shop) == [MUG, TEA, "Notebook"]
    assert _lines(ADA) == [
        (MUG, BLUE, "MUG-BLUE", 2, Decimal("12.50")),
        (TEA, "46100000000009", "TEA-GREEN", 1, Decimal("8.00")),
    ]
    assert Order.objects.get(external_id=ADA).total == total
    mug = Product.objects.get(store=shop, external_id=MUG)
    assert sorted(ProductAlias.objects.filter(product=mug).values_list("alias", "kind")) == [
        (BLUE, "variant"),
        (RED, "variant"),
        ("MUG-BLUE", "sku"),
        ("MUG-RED", "sku"),
    ]


def test_an_import_after_the_connection_lands_on_the_shop_products(
    client: Client, shop: Store
) -> None:
    _connect(client, shop, MUG_PAYLOAD, TEA_PAYLOAD)

    _import_export(shop)

    assert _products(shop) == [MUG, TEA, "Notebook"]
    assert [line[:1] for line in _lines(ADA)] == [(MUG,), (TEA,)]
    # Only the line without a SKU still waits for the catalog.
    assert list(products_awaiting_catalog(store=shop).values_list("name", flat=True)) == [
        "Notebook"
    ]


def test_the_product_count_is_the_shops_on_the_api_and_the_connect_page(
    client: Client, shop: Store
) -> None:
    _import_export(shop)
    awaiting_before = products_awaiting_catalog(store=shop).count()

    _connect(client, shop, MUG_PAYLOAD, TEA_PAYLOAD)

    key = create_api_key(store=shop, name="test", now=T0)[1]
    listed = client.get("/api/v1/products", headers={"X-API-Key": key}).json()
    assert listed["count"] == 3
    assert sorted(p["id"] for p in listed["items"]) == [MUG, TEA, "Notebook"]
    # The Connect page's "came only from order lines" count.
    assert (awaiting_before, products_awaiting_catalog(store=shop).count()) == (3, 1)


def test_the_same_catalog_again_and_the_history_again_change_nothing(
    client: Client, shop: Store
) -> None:
    _import_export(shop)
    _connect(client, shop, MUG_PAYLOAD, TEA_PAYLOAD)
    before = (_products(shop), _lines(ADA), ProductAlias.objects.count())

    newer = json.loads(MUG_PAYLOAD) | {"updated_at": "2024-03-01T08:00:00-05:00"}
    delivery = _delivered(client, shop, "products/update", json.dumps(newer).encode(), "99200001")
    _import_export(shop)

    assert delivery.status == RunStatus.DONE, delivery.error
    assert (_products(shop), _lines(ADA), ProductAlias.objects.count()) == before
    assert LineItem.objects.filter(store=shop).count() == 3


def test_a_sku_two_products_carry_is_reported_and_folds_nothing(
    shop: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _import_export(shop)
    jug = _product(JUG, "Blue jug", _variant("46100000000005", "Blue", "MUG-BLUE"))
    page = [Shopify().read_product(json.loads(body)) for body in (MUG_PAYLOAD, jug)]

    with caplog.at_level(logging.WARNING):
        apply_catalog_versions(store=shop, platform="shopify", changes=page)  # the backfill

    assert "SKU MUG-BLUE is a variant of products 8100000000001, 8100000000003" in caplog.text
    assert shared_aliases(store=shop) == ["MUG-BLUE"]
    assert _products(shop) == [MUG, JUG, "MUG-BLUE", "Notebook", "TEA-GREEN"]
    assert [line[0] for line in _lines(ADA)] == ["MUG-BLUE", "TEA-GREEN"]
    # A later line under that SKU stays on the SKU's own product too; the mug's other
    # SKU is the mug's alone.
    _import(
        shop,
        "2001,ada@example.com,2024-03-02T10:00:00,MUG-BLUE,Mug,1,12.50",
        "2001,ada@example.com,2024-03-02T10:00:00,MUG-RED,Mug,1,12.50",
    )
    assert [line[0] for line in _lines("2001")] == [MUG, "MUG-BLUE"]


def test_a_webhook_line_without_a_product_id_lands_on_the_product_of_its_sku(
    client: Client, shop: Store
) -> None:
    _connect(client, shop, MUG_PAYLOAD)
    order = json.loads(_payload("orders_create.json"))
    order["line_items"] = [
        order["line_items"][0] | {"product_id": None, "variant_id": None, "sku": "MUG-RED"}
    ]
    body = json.dumps(order).encode()

    delivery = _delivered(client, shop, "orders/create", body, "99300001")

    assert delivery.status == RunStatus.DONE, delivery.error
    assert [line[0] for line in _lines(str(order["id"]))] == [MUG]
    assert not Product.objects.filter(external_id="sku:MUG-RED").exists()


def test_a_line_without_a_product_id_before_the_connection_is_folded_too(
    client: Client, shop: Store
) -> None:
    order = json.loads(_payload("orders_create.json"))
    order["line_items"] = [
        order["line_items"][0] | {"product_id": None, "variant_id": None, "sku": "MUG-RED"}
    ]
    _delivered(client, shop, "orders/create", json.dumps(order).encode(), "99300001")
    assert "sku:MUG-RED" in _products(shop)

    _connect(client, shop, MUG_PAYLOAD)

    assert _lines(str(order["id"]))[0][:3] == (MUG, RED, "MUG-RED")
    assert "sku:MUG-RED" not in _products(shop)


def test_a_return_of_a_folded_product_refunds_the_order_it_returns(
    client: Client, shop: Store
) -> None:
    _import(
        shop,
        "1,ada@example.com,2024-03-01T10:00:00,MUG-BLUE,Mug,2,12.50",
        "1,ada@example.com,2024-03-01T10:00:00,TEA-GREEN,Tea,1,8.00",
    )
    _connect(client, shop, MUG_PAYLOAD)

    # A later file returns one mug under its SKU (a negative quantity).
    _import(shop, "R1,ada@example.com,2024-03-05T10:00:00,MUG-BLUE,Mug,-1,12.50")

    order = Order.objects.get(store=shop, external_id="1")
    assert (order.total, order.refunded_total) == (Decimal("33.00"), Decimal("12.50"))


def test_the_folded_product_is_recommended_after_the_next_fit(client: Client, shop: Store) -> None:
    rows = []
    for n in range(12):  # six customers bought the blue mug with the tea, six other things
        placed = f"2024-02-{n + 1:02}T10:00:00"
        pair = ("MUG-BLUE", "TEA-GREEN") if n < 6 else ("SPOON", "PLATE")
        rows += [f"{n},c{n}@example.com,{placed},{sku},{sku},1,8.00" for sku in pair]
    _import(shop, *rows)
    fit_recommendations(store=shop)
    sku_mug = Product.objects.get(store=shop, external_id="MUG-BLUE")
    tea_sku = Product.objects.get(store=shop, external_id="TEA-GREEN")
    ComplementRule.objects.create(store=shop, source_product=sku_mug, target_product=tea_sku)
    FitRun.objects.create(store=shop, fitted_at=T0)

    _connect(client, shop, MUG_PAYLOAD)

    # The fit is due again; until it runs the SKU's pairs are gone with its product.
    assert FitRun.objects.get(store=shop).fitted_at is None
    mug = Product.objects.get(store=shop, external_id=MUG)
    fit_recommendations(store=shop)
    together = ProductAssociation.objects.filter(
        store=shop, kind=AssociationKind.BOUGHT_TOGETHER, source=mug
    ).values_list("target__external_id", "support")
    assert list(together) == [("TEA-GREEN", 6)]
    # The merchant's rule about the SKU's product is a rule about the mug.
    rule = ComplementRule.objects.get(store=shop)
    assert (rule.source_product_id, rule.target_product_id) == (mug.pk, tea_sku.pk)


def test_a_flow_triggered_by_a_sku_still_starts_once_the_sku_is_folded(
    client: Client, shop: Store
) -> None:
    _import_export(shop)
    _connect(client, shop, MUG_PAYLOAD)
    flow_of(
        shop,
        [{"type": "email", "template": "hello"}],
        trigger={"event": "product_purchased", "products": ["MUG-BLUE"]},
    )
    ada = Order.objects.get(store=shop, external_id=ADA)

    started = process_orders(store=shop, order_ids=[ada.pk], now=T0)

    assert [e.customer.email for e in started] == ["ada@example.com"]
