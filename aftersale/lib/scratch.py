"""A throwaway database for the calling thread: work whose writes must not stay (a
backtest replays a flow over the store's real orders, enrolling and queueing emails).

On PostgreSQL the work runs in a transaction that is rolled back; other connections see
none of it and keep working (MVCC). On SQLite a long write transaction would hold the
database's single write lock and stall the worker and the API, so the work runs on a
snapshot copy of the database file (sqlite3's online backup, which WAL lets writers
continue through), swapped in as this thread's default connection and deleted after.

Either way `Throwaway.outside()` reaches the real database for short writes that must
stay and be seen while the work is under way (a run's progress): on PostgreSQL through a
second connection, on SQLite through the thread's own real connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# Rows created in a SQLite snapshot get ids far above the real database's, so no cache
# keyed by id (flows.selectors.definition_of) can mistake one for a real row later.
SNAPSHOT_ID_OFFSET = 10**12


@dataclass
class Throwaway:
    """The throwaway database in force in this thread; `real` reaches the real one."""

    real: BaseDatabaseWrapper
    snapshot: Path | None = None

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """Inside the block this thread's default database is the real one again."""
        scratch = connections[DEFAULT_DB_ALIAS]
        connections[DEFAULT_DB_ALIAS] = self.real
        try:
            if self.snapshot is None:  # PostgreSQL: the second connection commits each write
                with transaction.atomic():
                    yield
            else:
                yield
        finally:
            connections[DEFAULT_DB_ALIAS] = scratch


@contextlib.contextmanager
def throwaway_database(*, directory: Path) -> Iterator[Throwaway]:
    """Run the block on a throwaway copy of the default database (SQLite: a snapshot file
    in `directory`, deleted after; other databases: a transaction rolled back at the end,
    whether the block ends or raises)."""
    live = connections[DEFAULT_DB_ALIAS]
    if live.vendor == "sqlite":
        with _sqlite_snapshot(live, directory) as throwaway:
            yield throwaway
        return
    second = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with transaction.atomic():
            yield Throwaway(real=second)
            transaction.set_rollback(True)
    finally:
        second.close()


@contextlib.contextmanager
def _sqlite_snapshot(live: BaseDatabaseWrapper, directory: Path) -> Iterator[Throwaway]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"snapshot-{uuid.uuid4().hex}.sqlite3"
    if live.in_atomic_block:
        # sqlite3's backup waits forever for the lock of a write transaction still open.
        raise RuntimeError("a SQLite snapshot must be taken outside a transaction")
    live.ensure_connection()
    target = sqlite3.connect(path)
    try:
        live.connection.backup(target)
        with target:
            _offset_ids(target)
    finally:
        target.close()
    scratch = type(live)({**live.settings_dict, "NAME": str(path)}, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = scratch
    try:
        yield Throwaway(real=live, snapshot=path)
    finally:
        connections[DEFAULT_DB_ALIAS] = live
        scratch.close()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)


def _offset_ids(database: sqlite3.Connection) -> None:
    """Make every AUTOINCREMENT table of `database` number its next rows from above
    SNAPSHOT_ID_OFFSET (Django's SQLite primary keys are AUTOINCREMENT)."""
    database.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT name, 0 FROM sqlite_master "
        "WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%' "
        "AND name NOT IN (SELECT name FROM sqlite_sequence)"
    )
    database.execute("UPDATE sqlite_sequence SET seq = seq + ?", (SNAPSHOT_ID_OFFSET,))
