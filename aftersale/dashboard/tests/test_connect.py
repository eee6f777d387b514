"""The Connect page through Django's test client: a store's API keys listed, created (shown
once) and revoked, only by logins that may see the store."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.catalog.records import ProductRecord, VariantRecord
from aftersale.catalog.services import upsert_products
from aftersale.coupons.services import issue_coupon, mark_synced, save_program
from aftersale.integrations.csv_import import import_orders_csv
from aftersale.integrations.models import PlatformConnection, WebhookDelivery
from aftersale.integrations.platforms.catalog_sync import connect_shopify_admin
from aftersale.integrations.platforms.connections import platform_cards
from aftersale.integrations.platforms.deliveries import connect_platform
from aftersale.integrations.platforms.woocommerce import sign as woocommerce_sign
from aftersale.integrations.services import receive_products
from aftersale.lib.clock import VirtualClock
from aftersale.lib.runs import RunStatus
from aftersale.messaging.tests.factories import make_customer
from aftersale.orders.models import Order
from aftersale.stores.credentials import decrypt
from aftersale.stores.models import ApiKey, MemberRole, Store
from aftersale.stores.services import add_member, create_api_key, create_store
from conftest import T0

NEW_KEY = re.compile(r'id="new-key"[^>]*value="([^"]+)"')


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


def _orders_status(client: Client, raw_key: str) -> int:
    order = {
        "id": "1001",
        "customer": {"id": "c1", "email": "ada@example.com"},
        "placed_at": "2024-03-01T10:00:00Z",
        "line_items": [{"product_id": "p1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
    }
    answer = client.post(
        "/api/v1/orders",
        order,
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw_key}"},
    )
    return answer.status_code


def test_a_key_created_on_the_page_is_shown_once_uncached_and_accepted_by_the_api(
    signed_in: Client, store: Store
) -> None:
    created = signed_in.post(
        reverse("dashboard:connect-create-key", args=[store.slug]), {"name": "Shopify"}
    )

    assert created.status_code == 201
    assert "no-store" in created["Cache-Control"]
    raw_key = NEW_KEY.search(created.content.decode())
    assert raw_key is not None
    assert "shown only this once" in created.content.decode()
    listing = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "Shopify" in listing and "never" in listing
    assert raw_key[1] not in listing and ApiKey.objects.get().key_hash not in listing
    assert _orders_status(Client(), raw_key[1]) == 201


def test_a_refused_key_name_is_said_next_to_the_field_keeping_what_was_typed(
    signed_in: Client, store: Store, clock: VirtualClock
) -> None:
    create_api_key(store=store, name="Shopify", now=clock.now())

    answer = signed_in.post(
        reverse("dashboard:connect-create-key", args=[store.slug]), {"name": "Shopify"}
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    assert 'id="key-name-error"' in page and "already has an API key named" in page
    assert 'value="Shopify"' in page and 'id="new-key"' not in page
    assert ApiKey.objects.count() == 1


def test_a_key_revoked_on_the_page_is_refused_by_the_api(
    signed_in: Client, store: Store, clock: VirtualClock
) -> None:
    key, raw_key = create_api_key(store=store, name="old", now=clock.now())

    answer = signed_in.post(
        reverse("dashboard:connect-revoke-key", args=[store.slug, key.pk]), follow=True
    )

    assert answer.redirect_chain == [(reverse("dashboard:connect", args=[store.slug]), 302)]
    assert "revoked" in answer.content.decode()
    assert _orders_status(Client(), raw_key) == 401


def test_another_stores_connect_page_and_keys_are_404_and_stay_as_they_are(
    signed_in: Client, clock: VirtualClock
) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
    )
    key, _ = create_api_key(store=other, name="theirs", now=clock.now())

    assert signed_in.get(reverse("dashboard:connect", args=[other.slug])).status_code == 404
    create = reverse("dashboard:connect-create-key", args=[other.slug])
    assert signed_in.post(create, {"name": "mine"}).status_code == 404
    revoke = reverse("dashboard:connect-revoke-key", args=[other.slug, key.pk])
    assert signed_in.post(revoke).status_code == 404

    assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("theirs", None)]


def test_a_key_of_another_store_cannot_be_revoked_through_ones_own_store(
    signed_in: Client, store: Store, clock: VirtualClock
) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
    )
    key, _ = create_api_key(store=other, name="theirs", now=clock.now())

    revoke = reverse("dashboard:connect-revoke-key", args=[store.slug, key.pk])
    assert signed_in.post(revoke).status_code == 404
    assert ApiKey.objects.get().revoked_at is None


# --- shop platform cards ------------------------------------------------------------------

WOO_SECRET = "wc_secret_0123456789abcdefXYZ9"
WOO_ORDER = (
    Path(__file__).parents[2] / "integrations" / "tests" / "payloads" / "woocommerce"
).joinpath("order_created.json")


def _woo_post(client: Client, store: Store, body: bytes, *, webhook_id: str) -> int:
    answer = client.post(
        f"/webhooks/woocommerce/{store.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": woocommerce_sign(body=body, secret=WOO_SECRET),
            "X-WC-Webhook-ID": webhook_id,
            "X-WC-Webhook-Source": "https://shop.example.com/",
        },
    )
    return answer.status_code


def test_each_platform_card_shows_its_absolute_webhook_url_and_topics(
    signed_in: Client, store: Store, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://aftersale.example.com/"

    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()

    assert 'value="https://aftersale.example.com/webhooks/shopify/test-shop/"' in page
    assert 'value="https://aftersale.example.com/webhooks/woocommerce/test-shop/"' in page
    assert 'data-copy="webhook-url-shopify"' in page and "dashboard/copy.js" in page
    assert "<code>orders/create</code>" in page and "<code>order.created</code>" in page
    assert page.count("No delivery received yet.") == 2


def test_a_secret_set_on_the_page_is_kept_encrypted_and_shown_only_as_its_last_four(
    signed_in: Client, store: Store
) -> None:
    url = reverse("dashboard:connect-platform-secret", args=[store.slug, "woocommerce"])

    answer = signed_in.post(url, {"secret": WOO_SECRET})

    assert answer.status_code == 302
    connection = PlatformConnection.objects.get(store=store, platform="woocommerce")
    assert WOO_SECRET not in connection.webhook_secret
    assert decrypt(connection.webhook_secret) == WOO_SECRET
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert WOO_SECRET not in page and WOO_SECRET[:-4] not in page
    assert "••••XYZ9" in page
    # The webhooks are now verified with it.
    assert _woo_post(Client(), store, WOO_ORDER.read_bytes(), webhook_id="1") == 200


def test_an_empty_secret_is_refused_at_its_field_and_nothing_is_kept(
    signed_in: Client, store: Store
) -> None:
    url = reverse("dashboard:connect-platform-secret", args=[store.slug, "shopify"])

    answer = signed_in.post(url, {"secret": "  "})

    assert answer.status_code == 400
    assert "Paste the secret" in answer.content.decode()
    assert not PlatformConnection.objects.exists()


def test_a_marketer_gets_403_on_the_secret_form_and_the_secret_stays(
    client: Client, store: Store, django_user_model: type[User]
) -> None:
    connect_platform(store=store, platform="shopify", secret="shpss_original_1234", now=T0)
    marketer = django_user_model.objects.create_user(username="mia", password="x")
    add_member(store=store, user=marketer, role=MemberRole.MARKETER)
    client.force_login(marketer)
    url = reverse("dashboard:connect-platform-secret", args=[store.slug, "shopify"])

    answer = client.post(url, {"secret": "shpss_replaced_5678"})

    assert answer.status_code == 403
    connection = PlatformConnection.objects.get(store=store, platform="shopify")
    assert decrypt(connection.webhook_secret) == "shpss_original_1234"


def test_a_dead_letter_shows_its_error_and_replay_on_the_page_runs_it_again(
    signed_in: Client, store: Store
) -> None:
    connect_platform(store=store, platform="woocommerce", secret=WOO_SECRET, now=T0)
    assert _woo_post(Client(), store, b"[]", webhook_id="7") == 400
    delivery = WebhookDelivery.objects.get()
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "order.created" in page and "failed" in page and delivery.error in page
    assert f"Replay delivery {delivery.pk}" in page
    # Say a later release reads what this one could not: the stored body is what is replayed.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(body=WOO_ORDER.read_bytes())

    answer = signed_in.post(
        reverse("dashboard:connect-replay", args=[store.slug, delivery.pk]), follow=True
    )

    delivery.refresh_from_db()
    assert delivery.status == RunStatus.DONE
    assert Order.objects.filter(store=store).count() == 1
    assert f"Delivery {delivery.pk} replayed" in answer.content.decode()
    assert f"Replay delivery {delivery.pk}" not in answer.content.decode()


def test_another_stores_delivery_cannot_be_replayed_through_ones_own_store(
    signed_in: Client, store: Store
) -> None:
    other = create_store(name="Other", slug="other", now=T0)
    connect_platform(store=other, platform="woocommerce", secret=WOO_SECRET, now=T0)
    assert _woo_post(Client(), other, b"[]", webhook_id="8") == 400
    delivery = WebhookDelivery.objects.get()

    answer = signed_in.post(reverse("dashboard:connect-replay", args=[store.slug, delivery.pk]))

    assert answer.status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == RunStatus.FAILED


def test_the_card_lists_the_latest_ten_deliveries_newest_first(
    signed_in: Client, store: Store
) -> None:
    connect_platform(store=store, platform="woocommerce", secret=WOO_SECRET, now=T0)
    for i in range(12):
        assert _woo_post(Client(), store, b"[]", webhook_id=f"{100 + i}") == 400

    cards = {card.platform: card for card in platform_cards(store=store)}

    assert len(cards["woocommerce"].deliveries) == 10
    ids = [d.pk for d in cards["woocommerce"].deliveries]
    assert ids == sorted(ids, reverse=True)
    assert cards["shopify"].deliveries == () and cards["shopify"].secret_masked == ""


def test_products_that_came_only_from_orders_are_counted_until_the_catalog_names_them(
    signed_in: Client, store: Store
) -> None:
    _, raw_key = create_api_key(store=store, name="shop", now=T0)
    assert _orders_status(signed_in, raw_key) == 201

    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "1 product\n  came only from order lines" in page

    upsert_products(store=store, records=[ProductRecord("p1", "Blue mug")])
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert 'id="awaiting-catalog"' not in page


def test_the_shopify_card_says_the_shop_kept_and_the_coupon_codes_waiting_for_it(
    signed_in: Client, store: Store, clock: VirtualClock
) -> None:
    connect_platform(store=store, platform="shopify", secret="webhook-secret", now=T0)
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert 'id="shop-admin-shopify"' not in page  # no admin access: nothing to wait for

    connect_shopify_admin(store=store, shop_domain="paper-co.myshopify.com", admin_token="shpat_1")
    program = save_program(store=store, slug="thanks", kind="percent", amount="10")
    customer = make_customer(store, now=clock.now())
    coupon = issue_coupon(program=program, customer=customer, now=clock.now())

    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "Admin API of <code>paper-co.myshopify.com</code> kept" in page
    assert "1 coupon code\n  waits to be created in your shop" in page

    mark_synced(store=store, coupon_ids=[coupon.pk])
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert 'id="shop-admin-shopify"' in page
    assert 'id="codes-waiting"' not in page


def test_products_an_export_keyed_by_sku_stop_awaiting_once_the_shop_names_them(
    signed_in: Client, store: Store
) -> None:
    export = Path(__file__).parents[2] / "integrations/tests/fixtures/shopify_orders_export.csv"
    with export.open(encoding="utf-8") as stream:
        import_orders_csv(store=store, stream=stream, now=T0)
    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "3 products\n  came only from order lines" in page

    receive_products(
        store=store,
        records=[
            ProductRecord("8100000000001", "Mug", variants=(VariantRecord("461", sku="MUG-BLUE"),)),
            ProductRecord(
                "8100000000002", "Tea", variants=(VariantRecord("462", sku="TEA-GREEN"),)
            ),
        ],
    )

    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()
    assert "1 product\n  came only from order lines" in page  # the line without a SKU
