"""Independent reads of one report run side by side, each on its own connection."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper


def read_concurrently(*reads: Callable[[], Any]) -> list[Any]:
    """The results of `reads` (functions that only read the default database), in their
    order. When the calling thread is on the installation's own database outside any
    transaction, they run at once, each in a thread with a connection of its own, closed
    after (SQLite and PostgreSQL let readers run side by side, and sqlite3 lets go of the
    GIL while a statement runs). Inside a transaction, or on a database swapped in for
    this thread (a backtest's throwaway copy), they run one after another on the
    caller's connection, so that they see what the caller sees."""
    if len(reads) < 2 or not _own_database_in_autocommit():
        return [read() for read in reads]
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="read") as pool:
        return list(pool.map(_on_own_connection, reads))


def _own_database_in_autocommit() -> bool:
    connection = connections[DEFAULT_DB_ALIAS]
    configured = settings.DATABASES[DEFAULT_DB_ALIAS]
    if connection.in_atomic_block or connection.settings_dict["NAME"] != configured["NAME"]:
        return False
    # An in-memory SQLite database is one connection's own: a thread would see another.
    return not in_memory_sqlite(connection.settings_dict["NAME"])


def in_memory_sqlite(name: object) -> bool:
    """Whether the database NAME `name` is an in-memory SQLite database (as tests use)."""
    return str(name) == ":memory:" or "mode=memory" in str(name)


def _on_own_connection(read: Callable[[], Any]) -> Any:
    try:
        _one_of_several(connections[DEFAULT_DB_ALIAS])
        return read()
    finally:
        connections[DEFAULT_DB_ALIAS].close()


def _one_of_several(connection: BaseDatabaseWrapper) -> None:
    """Set up a connection for one of several reads run at once. On PostgreSQL: no
    parallel workers, since the reads side by side already keep the cores busy and
    workers of each would only compete with them (measured: a million-journey flow
    report in 1.4 s this way, 1.8 s with workers), and no JIT, which compiles for
    longer than a grouped scan of an index runs. The connection is closed after."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            cursor.execute("SET jit = off")
