"""The throwaway database: writes made in it are gone after, the real database keeps
what `outside()` wrote meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from aftersale.lib.scratch import SNAPSHOT_ID_OFFSET, throwaway_database
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from conftest import T0

# A SQLite snapshot is taken outside a transaction, as the worker takes it.
pytestmark = pytest.mark.django_db(transaction=True)


def test_writes_in_the_throwaway_database_are_gone_after_it_and_outside_ones_stay(
    store: Store, tmp_path: Path
) -> None:
    with throwaway_database(directory=tmp_path) as throwaway:
        assert Store.objects.filter(slug=store.slug).exists()  # it starts as a copy
        create_store(name="Scratch", slug="scratch", now=T0)
        Store.objects.filter(pk=store.pk).update(name="Renamed in the scratch")
        with throwaway.outside():
            create_store(name="Kept", slug="kept", now=T0)
        assert Store.objects.filter(slug="scratch").exists()
    assert not Store.objects.filter(slug="scratch").exists()
    assert Store.objects.get(pk=store.pk).name == "Test Shop"
    assert Store.objects.filter(slug="kept").exists()
    assert list(tmp_path.iterdir()) == []


def test_rows_made_in_a_sqlite_snapshot_get_ids_no_real_row_will_have(
    store: Store, tmp_path: Path
) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's sequences are not rolled back: ids never repeat there")
    with throwaway_database(directory=tmp_path):
        scratch = create_store(name="Scratch", slug="scratch", now=T0)
    assert scratch.pk > SNAPSHOT_ID_OFFSET
    assert create_store(name="Real", slug="real", now=T0).pk < SNAPSHOT_ID_OFFSET
