"""Reads run side by side only where they see what the caller sees."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection

from aftersale.lib.reads import in_memory_sqlite, read_concurrently
from aftersale.lib.scratch import throwaway_database
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from conftest import T0


def _where() -> tuple[str, list[str]]:
    """The thread a read ran in and the store slugs it saw."""
    return threading.current_thread().name, sorted(Store.objects.values_list("slug", flat=True))


@pytest.mark.django_db
def test_inside_a_transaction_the_reads_run_in_turn_and_see_its_uncommitted_rows() -> None:
    create_store(name="Uncommitted", slug="uncommitted", now=T0)
    results = read_concurrently(_where, _where)
    assert results == [(threading.current_thread().name, ["uncommitted"])] * 2


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_reads_run_at_once_in_threads_of_their_own() -> None:
    create_store(name="Committed", slug="committed", now=T0)
    results = read_concurrently(_where, lambda: 42, _where)
    assert results[1] == 42
    assert [seen for _, seen in (results[0], results[2])] == [["committed"], ["committed"]]
    threads = {name for name, _ in (results[0], results[2])}
    if in_memory_sqlite(connection.settings_dict["NAME"]):
        assert threads == {threading.current_thread().name}  # another thread's is empty
    else:
        assert all(name.startswith("read") for name in threads)


@pytest.mark.django_db(transaction=True)
def test_on_a_throwaway_copy_the_reads_run_in_turn_on_the_copy(tmp_path: Path) -> None:
    with throwaway_database(directory=tmp_path):
        create_store(name="Only in the copy", slug="copy", now=T0)
        results = read_concurrently(_where, _where)
    assert results == [(threading.current_thread().name, ["copy"])] * 2


def _parallel_workers_and_jit() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('jit')"
        )
        row = cursor.fetchone()
    return str(row[0]), str(row[1])


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_reads_side_by_side_use_no_parallel_workers_or_jit() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's parallel query and JIT: run the suite on PostgreSQL")
    caller = _parallel_workers_and_jit()
    results = read_concurrently(_parallel_workers_and_jit, _parallel_workers_and_jit)
    assert results == [("0", "off")] * 2
    assert _parallel_workers_and_jit() == caller  # the caller's own connection is as it was
