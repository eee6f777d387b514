"""Which keys the API accepts: any key of a store in use, never a revoked one."""

import datetime as dt

from django.test import Client

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.stores.models import ApiKey, Store
from aftersale.stores.services import create_api_key, revoke_api_key


def _post_products(client: Client, raw_key: str) -> int:
    answer = client.post(
        "/api/v1/products",
        [],
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw_key}"},
    )
    return answer.status_code


def test_a_revoked_key_is_refused_with_401_while_the_stores_other_key_works(
    client: Client, store: Store, clock: VirtualClock
) -> None:
    old, raw_old = create_api_key(store=store, name="old", now=clock.now())
    _, raw_new = create_api_key(store=store, name="new", now=clock.now())
    assert _post_products(client, raw_old) == 200

    revoke_api_key(key=old, now=clock.now())

    assert _post_products(client, raw_old) == 401
    assert _post_products(client, raw_new) == 200


def test_a_request_notes_when_its_key_was_last_used(
    client: Client, store: Store, clock: VirtualClock
) -> None:
    key, raw = create_api_key(store=store, name="shop", now=clock.now())
    used_at = clock.advance(dt.timedelta(minutes=3))
    with use_clock(clock):
        _post_products(client, raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == used_at
