"""Reading a connected Shopify shop's whole catalog through its admin API: recorded
products.json pages replayed by a server on 127.0.0.1 (the shop's own servers cannot run
here), with their Link-header cursor, a rate limit, a server error and a refused token."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import ensure_products
from aftersale.integrations.models import WebhookDelivery
from aftersale.integrations.platforms.catalog_sync import (
    API_VERSION,
    CatalogUnavailable,
    connect_shopify_admin,
    sync_shopify_catalog,
)
from aftersale.integrations.platforms.deliveries import (
    connect_platform,
    process_deliveries,
    receive_webhook,
)
from aftersale.integrations.tests.local_shop import serving
from aftersale.integrations.tests.test_shopify_webhooks import _headers
from aftersale.lib.runs import RunStatus
from aftersale.stores.models import Store
from aftersale.stores.services import update_store_settings
from conftest import T0

PAYLOADS = Path(__file__).parent / "payloads" / "shopify"
TOKEN = "shpat_0123456789abcdef"
FIRST = f"/admin/api/{API_VERSION}/products.json?limit=250"
SECOND = f"/admin/api/{API_VERSION}/products.json?limit=250&page_info=eyJsYXN0X2lkIjo4MDEy"


class _Shop(BaseHTTPRequestHandler):
    """Answers each path with the next of its scripted (status, headers, body) answers."""

    script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    seen: list[tuple[str, str]] = []
    origin = ""  # the server's, which Link headers name as {origin}

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("X-Shopify-Access-Token", "")))
        answers = self.script.get(self.path) or [(404, {}, b"{}")]
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value.replace("{origin}", self.origin))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _page(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@pytest.fixture
def shop() -> Iterator[type[_Shop]]:
    class Shop(_Shop):
        seen: list[tuple[str, str]] = []

    handler = Shop
    next_page = {"Link": f'<{{origin}}{SECOND}>; rel="next"'}
    previous_page = {"Link": f'<{{origin}}{FIRST}>; rel="previous"'}
    handler.script = {
        FIRST: [(200, next_page, _page("admin_products_page1.json"))],
        SECOND: [
            (429, {"Retry-After": "2.0"}, b'{"errors":"Exceeded 2 calls per second"}'),
            (502, {}, b"bad gateway"),
            (200, previous_page, _page("admin_products_page2.json")),
        ],
    }
    with serving(handler) as origin:
        handler.origin = origin
        yield handler


@pytest.fixture
def connected(store: Store) -> Store:
    connect_platform(store=store, platform="shopify", secret="webhook-secret", now=T0)
    connect_shopify_admin(
        store=store, shop_domain="https://paper-co.myshopify.com/", admin_token=TOKEN
    )
    return update_store_settings(store=store, website_url="https://paper.example.com")


def test_every_page_of_the_shops_catalog_is_written_with_prices_stock_images_and_links(
    connected: Store, shop: type[_Shop]
) -> None:
    waits: list[float] = []
    ensure_products(store=connected, records=[ProductRecord("8012345678999", "Pen")])

    report = sync_shopify_catalog(store=connected, origin=shop.origin, wait=waits.append)

    assert (report.products, report.pages) == (2, 2)
    assert waits == [2.0, 2.0]  # Retry-After, then the second retry's own wait
    assert [path for path, _ in shop.seen] == [FIRST, SECOND, SECOND, SECOND]
    assert {token for _, token in shop.seen} == {TOKEN}
    notebook = Product.objects.get(store=connected, external_id="8012345678901")
    assert (notebook.name, notebook.category, notebook.brand) == (
        "Walnut Notebook",
        "Notebooks",
        "Paper & Co",
    )
    assert (notebook.price, notebook.stock) == (Decimal("18.99"), 15)
    assert notebook.image_url.endswith("/walnut-notebook.jpg")
    assert notebook.url == "https://paper.example.com/products/walnut-notebook"
    assert [(v["sku"], v["stock"]) for v in notebook.variants] == [
        ("NB-WAL-A5", 12),
        ("NB-WAL-A4", 3),
    ]
    assert notebook.tags == ["gift", "paper"]
    pen = Product.objects.get(store=connected, external_id="8012345678999")
    assert (pen.name, pen.price, pen.stock, pen.awaiting_catalog) == (
        "Brass Pen",
        Decimal("32.00"),
        0,
        False,
    )


def test_a_sync_again_changes_nothing(connected: Store, shop: type[_Shop]) -> None:
    sync_shopify_catalog(store=connected, origin=shop.origin, wait=lambda s: None)
    before = list(Product.objects.order_by("pk").values())

    sync_shopify_catalog(store=connected, origin=shop.origin, wait=lambda s: None)

    assert list(Product.objects.order_by("pk").values()) == before


def test_a_refused_token_stops_the_sync_saying_so(connected: Store, shop: type[_Shop]) -> None:
    shop.script[FIRST] = [(401, {}, b'{"errors":"[API] Invalid API key or access token"}')]

    with pytest.raises(CatalogUnavailable, match=r"refused the admin API token \(401\)"):
        sync_shopify_catalog(store=connected, origin=shop.origin, wait=lambda s: None)
    assert not Product.objects.exists()


def test_a_shop_that_keeps_failing_is_given_up_after_the_retries(
    connected: Store, shop: type[_Shop]
) -> None:
    shop.script[FIRST] = [(503, {}, b"unavailable")]
    waits: list[float] = []

    with pytest.raises(CatalogUnavailable, match="gave up after 6 attempts"):
        sync_shopify_catalog(store=connected, origin=shop.origin, wait=waits.append)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_a_product_without_a_title_is_named_with_its_page_and_path(
    connected: Store, shop: type[_Shop]
) -> None:
    page = json.loads(_page("admin_products_page1.json"))
    del page["products"][0]["title"]
    shop.script[FIRST] = [(200, {}, json.dumps(page).encode())]

    with pytest.raises(CatalogUnavailable, match=r"page 1, products\[0\]\.title"):
        sync_shopify_catalog(store=connected, origin=shop.origin, wait=lambda s: None)


def test_a_store_without_admin_access_is_told_how_to_give_it(store: Store) -> None:
    with pytest.raises(CatalogUnavailable, match="platforms connect shopify --shop"):
        sync_shopify_catalog(store=store)
    with pytest.raises(ValueError, match="webhooks first"):
        connect_shopify_admin(store=store, shop_domain="x.myshopify.com", admin_token=TOKEN)


def test_the_command_keeps_the_shop_and_its_token_and_refuses_a_sync_without_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError, match="no Shopify admin access"):
        call_command("platforms", "sync-catalog", "--store", store.slug)
    monkeypatch.setenv("AFTERSALE_SHOPIFY_WEBHOOK_SECRET", "webhook-secret")
    monkeypatch.setenv("AFTERSALE_SHOPIFY_ADMIN_TOKEN", TOKEN)
    out = io.StringIO()
    shop = ["--shop", "paper-co.myshopify.com"]
    call_command("platforms", "connect", "shopify", "--store", store.slug, *shop, stdout=out)
    assert "admin API of paper-co.myshopify.com kept" in out.getvalue()


def test_a_product_a_newer_webhook_already_applied_is_left_as_the_webhook_made_it(
    connected: Store, shop: type[_Shop]
) -> None:
    newer = (PAYLOADS / "products_update.json").read_bytes()  # updated 2 March, 17.99
    headers = _headers("products/update", newer, event_id="98400007", secret="webhook-secret")
    receive_webhook(
        platform="shopify", store_slug=connected.slug, body=newer, headers=headers, now=T0
    )
    assert process_deliveries(now=lambda: T0) == 1
    assert WebhookDelivery.objects.get().status == RunStatus.DONE

    sync_shopify_catalog(store=connected, origin=shop.origin, wait=lambda s: None)

    notebook = Product.objects.get(store=connected, external_id="8012345678901")
    assert notebook.price == Decimal("17.99")  # not the page's older 18.99 (20 February)
    pen = Product.objects.get(store=connected, external_id="8012345678999")
    assert pen.name == "Brass Pen"  # nobody applied a newer one: the sync wrote it
