"""API keys: many a store, named, stored hashed, shown once, revocable, their last use
noted at most once a minute."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersale.lib.clock import VirtualClock
from aftersale.stores.models import ApiKey, Store
from aftersale.stores.selectors import active_api_key, api_key_named, api_keys
from aftersale.stores.services import (
    InvalidApiKeyName,
    create_api_key,
    hash_api_key,
    record_api_key_use,
    revoke_api_key,
)


def test_a_store_has_many_named_keys_kept_only_as_their_hash(
    store: Store, clock: VirtualClock
) -> None:
    shop, raw_shop = create_api_key(store=store, name="Shopify", now=clock.now())
    erp, raw_erp = create_api_key(store=store, name="ERP", now=clock.now())

    assert raw_shop != raw_erp
    assert raw_shop.startswith(f"as_{store.slug}_")
    assert shop.key_hash == hash_api_key(raw_shop)
    stored = ApiKey.objects.values_list("name", "key_hash", "created_at", "revoked_at")
    assert raw_shop not in str(list(stored)) and raw_erp not in str(list(stored))
    assert list(api_keys(store=store)) == [shop, erp]
    assert active_api_key(raw_key=raw_erp) == erp


def test_a_key_name_is_required_and_unique_among_the_keys_in_use(
    store: Store, clock: VirtualClock
) -> None:
    with pytest.raises(InvalidApiKeyName, match="1 to 100 characters"):
        create_api_key(store=store, name="  ", now=clock.now())
    first, _ = create_api_key(store=store, name="Shopify", now=clock.now())
    with pytest.raises(InvalidApiKeyName, match="already has an API key named 'Shopify'"):
        create_api_key(store=store, name="Shopify", now=clock.now())

    revoke_api_key(key=first, now=clock.now())
    second, _ = create_api_key(store=store, name="Shopify", now=clock.now())

    assert api_key_named(store=store, name_or_id="Shopify") == second
    assert api_key_named(store=store, name_or_id=str(first.pk)) == first


def test_a_revoked_key_is_no_longer_active_and_keeps_its_first_revocation_time(
    store: Store, clock: VirtualClock
) -> None:
    key, raw = create_api_key(store=store, name="old", now=clock.now())
    revoked_at = clock.advance(dt.timedelta(hours=1))
    revoke_api_key(key=key, now=revoked_at)
    revoke_api_key(key=key, now=clock.advance(dt.timedelta(hours=1)))

    assert active_api_key(raw_key=raw) is None
    assert ApiKey.objects.get().revoked_at == revoked_at


def test_a_keys_use_is_written_at_most_once_a_minute(store: Store, clock: VirtualClock) -> None:
    key, _ = create_api_key(store=store, name="busy", now=clock.now())
    first_use = clock.advance(dt.timedelta(seconds=5))
    record_api_key_use(key=key, now=first_use)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            record_api_key_use(key=key, now=clock.advance(dt.timedelta(seconds=5)))
    assert len(queries) == 0
    assert ApiKey.objects.get().last_used_at == first_use

    later = clock.advance(dt.timedelta(seconds=10))
    record_api_key_use(key=ApiKey.objects.get(), now=later)
    assert ApiKey.objects.get().last_used_at == later


def test_an_unknown_key_name_says_which_store_has_none(store: Store) -> None:
    with pytest.raises(LookupError, match="store 'test-shop' has no API key named 'nope'"):
        api_key_named(store=store, name_or_id="nope")
