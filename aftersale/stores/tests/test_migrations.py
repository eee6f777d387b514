"""Upgrading a database whose stores have their one API key: stores 0004-0006 move it into
the ApiKey table, so the key the store's integration sends keeps working."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from aftersale.stores.models import ApiKey
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
