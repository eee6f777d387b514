"""Set-based writes and reads (lib.bulk) on the real database, SQLite or PostgreSQL:
rows inserted as tuples read back by key past one query's limit, a conflicting row left
as it was, integer lists written into the SQL, and a bulk load's settings put back."""

from __future__ import annotations

import gc

from django.db import connection

from aftersale.customers.models import Customer
from aftersale.lib import bulk
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from conftest import T0

# Every column without a NULL (the models give no database defaults).
_FIELDS = ["store", "created_at", "external_id", "email", "accepts_marketing"]
_FIELDS += ["first_name", "last_name", "time_zone", "locale"]
_BLANKS = ("", "", "", "")


def _rows(store: Store, count: int, *, prefix: str = "c") -> list[tuple[object, ...]]:
    moment = bulk.datetime_adapter(Customer)(T0)
    return [
        (store.pk, moment, f"{prefix}{n}", f"{prefix}{n}@example.com", True, *_BLANKS)
        for n in range(count)
    ]


def test_rows_inserted_as_tuples_are_read_back_by_key_beyond_one_querys_limit(store):
    # More keys than SQLite takes parameters in one statement (32,766 here).
    bulk.insert_rows(model=Customer, fields=_FIELDS, rows=_rows(store, 33_000))

    keys = [f"c{n}" for n in range(33_000)]
    ids = bulk.ids_by_key(model=Customer, key="external_id", values=keys, store_id=store.pk)

    assert len(ids) == 33_000
    assert ids["c32999"] == Customer.objects.get(external_id="c32999").pk
    assert Customer.objects.get(external_id="c7").created_at == T0


def test_ids_by_key_reads_only_the_given_stores_rows(store):
    other = create_store(name="Other", slug="other", now=T0)
    bulk.insert_rows(model=Customer, fields=_FIELDS, rows=_rows(store, 2) + _rows(other, 3))

    mine = bulk.ids_by_key(
        model=Customer, key="external_id", values=["c0", "c1", "c2", "nobody"], store_id=store.pk
    )

    assert set(mine) == {"c0", "c1"}
    assert set(Customer.objects.filter(pk__in=mine.values()).values_list("store", flat=True)) == {
        store.pk
    }


def test_a_row_another_process_wrote_first_is_left_as_it_was(store):
    bulk.insert_rows(model=Customer, fields=_FIELDS, rows=_rows(store, 1, prefix="ann"))
    moment = bulk.datetime_adapter(Customer)(T0)
    again = [(store.pk, moment, "ann0", "changed@example.com", False, *_BLANKS)]

    bulk.insert_rows(model=Customer, fields=_FIELDS, rows=again, ignore_conflicts=True)

    ann = Customer.objects.get(external_id="ann0")
    assert (ann.email, ann.accepts_marketing) == ("ann0@example.com", True)
    assert Customer.objects.count() == 1


def test_id_in_matches_the_listed_ids_and_an_empty_list_matches_nothing(store):
    bulk.insert_rows(model=Customer, fields=_FIELDS, rows=_rows(store, 5))
    ids = sorted(Customer.objects.values_list("pk", flat=True))

    assert (
        sorted(Customer.objects.filter(bulk.id_in("pk", ids[1:3])).values_list("pk", flat=True))
        == ids[1:3]
    )
    assert list(Customer.objects.filter(bulk.id_in("pk", []))) == []


def test_a_bulk_load_puts_the_garbage_collector_and_the_page_cache_back(store):
    thresholds = gc.get_threshold()

    with bulk.bulk_load(Customer):
        assert gc.get_threshold()[0] > thresholds[0]

    assert gc.get_threshold() == thresholds
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -2000


def test_loads_side_by_side_put_the_collector_back_only_when_the_last_one_ends(store):
    thresholds = gc.get_threshold()

    with bulk.bulk_load(Customer):
        with bulk.bulk_load(Customer):
            pass
        assert gc.get_threshold()[0] > thresholds[0]

    assert gc.get_threshold() == thresholds
