"""Each store's one key (Store.api_key_hash) becomes an ApiKey named "default", created when
the store was. A migration of its own: on PostgreSQL, rows written in the migration that
also changes the schema would leave "pending trigger events" behind."""

from django.db import migrations

MIGRATED_KEY_NAME = "default"


def keys_from_stores(apps, schema_editor):
    store_model = apps.get_model("stores", "Store")
    api_key_model = apps.get_model("stores", "ApiKey")
    api_key_model.objects.bulk_create(
        api_key_model(
            store_id=store_id, name=MIGRATED_KEY_NAME, key_hash=key_hash, created_at=created_at
        )
        for store_id, key_hash, created_at in store_model.objects.exclude(api_key_hash="")
        .values_list("id", "api_key_hash", "created_at")
        .iterator()
    )


def keys_to_stores(apps, schema_editor):
    # Back to one key a store: the newest key still in use.
    store_model = apps.get_model("stores", "Store")
    api_key_model = apps.get_model("stores", "ApiKey")
    for key in api_key_model.objects.filter(revoked_at__isnull=True).order_by("created_at", "id"):
        store_model.objects.filter(pk=key.store_id).update(api_key_hash=key.key_hash)


class Migration(migrations.Migration):
    dependencies = [("stores", "0004_api_keys")]

    operations = [migrations.RunPython(keys_from_stores, keys_to_stores)]
