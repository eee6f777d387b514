"""The admin's store pages: no hash field, no "Created at" to fill in; keys listed as
created, last used and revoked, and revocable."""

from django.test import Client

from aftersale.lib.clock import VirtualClock
from aftersale.stores.models import ApiKey, Store
from aftersale.stores.services import create_api_key


def test_a_store_is_added_in_the_admin_without_a_hash_or_a_created_at_to_fill_in(
    admin_client: Client,
) -> None:
    form = admin_client.get("/admin/stores/store/add/").content.decode()
    assert "api_key_hash" not in form and "Api key hash" not in form
    assert 'name="created_at"' not in form

    answer = admin_client.post(
        "/admin/stores/store/add/",
        {
            "slug": "gifts",
            "name": "Gifts",
            "currency": "EUR",
            "time_zone": "UTC",
            "website_url": "https://gifts.example.com",
            "from_email": "hi@gifts.example.com",
            "physical_address": "1 Main St",
            "brand_color": "#000000",
            "social_links": "{}",
            "locale": "en_US",
            "smart_sending_hours": "16",
            "attribution_click_days": "5",
            "attribution_open_days": "5",
            "members-TOTAL_FORMS": "0",
            "members-INITIAL_FORMS": "0",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )

    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert Store.objects.get(slug="gifts").created_at is not None


def test_the_store_page_lists_its_keys_without_their_hash_and_the_keys_page_revokes(
    admin_client: Client, store: Store, clock: VirtualClock
) -> None:
    key, raw_key = create_api_key(store=store, name="shopify", now=clock.now())

    page = admin_client.get(f"/admin/stores/store/{store.pk}/change/").content.decode()
    assert "shopify" in page
    assert key.key_hash not in page and raw_key not in page

    answer = admin_client.post(
        "/admin/stores/apikey/",
        {"action": "revoke", "_selected_action": [str(key.pk)]},
    )

    assert answer.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert (
        "/admin/stores/apikey/add/"
        not in admin_client.get("/admin/stores/apikey/").content.decode()
    )
