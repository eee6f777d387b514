"""Upgrading a database whose stores have their one API key: stores 0004-0006 move it into
the ApiKey table, so the key the store's integration sends keeps working."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from aftersale.stores.models import ApiKey, Store
from aftersale.stores.services import hash_api_key

BEFORE = [("stores", "0003_store_members")]
CREATED = dt.datetime(2023, 5, 6, 7, 8, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_a_stores_old_api_key_becomes_a_key_named_default_that_the_api_still_accepts(
    client: Client,
) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    store_model = old.get_model("stores", "Store")
    store_model.objects.create(
        slug="old", name="Old", api_key_hash=hash_api_key("as_old_secret"), created_at=CREATED
    )
    store_model.objects.create(slug="keyless", name="Keyless", created_at=CREATED)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    key = ApiKey.objects.get()
    assert (key.store.slug, key.name, key.created_at, key.revoked_at) == (
        "old",
        "default",
        CREATED,
        None,
    )
    answer = client.post(
        "/api/v1/products",
        [],
        content_type="application/json",
        headers={"Authorization": "Bearer as_old_secret"},
    )
    assert answer.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_placeholder_postal_address_becomes_empty_and_real_ones_stay() -> None:
    before = [("stores", "0006_remove_store_api_key_hash")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    store_model = old.get_model("stores", "Store")
    store_model.objects.create(slug="placeholder", name="P", created_at=CREATED)
    store_model.objects.create(
        slug="real", name="R", created_at=CREATED, physical_address="9 Real Road, Leeds"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    addresses = dict(Store.objects.values_list("slug", "physical_address"))
    assert addresses == {"placeholder": "", "real": "9 Real Road, Leeds"}
    kept = Store.objects.get(slug="real")
    assert (kept.quiet_hours_start, kept.smart_sending_hours) == (dt.time(21, 0), 16)
