"""The Connect page through Django's test client: a store's API keys listed, created (shown
once) and revoked, only by logins that may see the store."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.lib.clock import VirtualClock
from aftersale.stores.models import ApiKey, Store
from aftersale.stores.services import create_api_key, create_store

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
