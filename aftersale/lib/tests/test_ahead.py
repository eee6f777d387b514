"""Statements sent ahead: on PostgreSQL sent without waiting and done once `wait`
returns; any other query waits for them first; a failure surfaces, never lost."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from aftersale.lib.ahead import StatementsAhead
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from conftest import T0

RENAME = "UPDATE stores_store SET name = %s WHERE id = %s"


def test_a_query_while_a_statement_is_in_flight_waits_for_it_and_sees_its_write(
    store: Store,
) -> None:
    with connection.cursor() as cursor:
        statements = StatementsAhead(cursor)
        with statements.guarding():
            statements.send(RENAME, ["Sent ahead", store.pk])
            assert Store.objects.get(pk=store.pk).name == "Sent ahead"
            statements.send(RENAME, ["Sent again", store.pk])
        # leaving waits for the last one
        assert Store.objects.values_list("name", flat=True).get(pk=store.pk) == "Sent again"


def test_a_failing_statement_raises_a_database_error_at_the_latest_when_waited_for(
    store: Store,
) -> None:
    with connection.cursor() as cursor, pytest.raises(DatabaseError, match=r"(?i)null"):
        statements = StatementsAhead(cursor)
        statements.send("UPDATE stores_store SET name = NULL WHERE id = %s", [store.pk])
        statements.wait()


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_send_does_not_wait_for_the_statement_to_finish() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a statement sent ahead needs PostgreSQL: run the suite on PostgreSQL")
    import psycopg

    store = create_store(name="Before", slug="ahead", now=T0)
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
    )
    try:
        # Another transaction holds the row: a statement we waited for would hang here.
        other.execute("SELECT id FROM stores_store WHERE id = %s FOR UPDATE", [store.pk])
        with connection.cursor() as cursor:
            statements = StatementsAhead(cursor)
            statements.send(RENAME, ["After", store.pk])  # returns at once
            other.commit()  # the lock goes: the UPDATE can run now
            statements.wait()
    finally:
        other.close()
    assert Store.objects.get(pk=store.pk).name == "After"
