"""A scratch SQLite file that puts a CSV file's rows back together by order.

Exports do not always keep an order's rows adjacent (a gift shop's invoices came in
whatever order its spreadsheet was sorted). Holding every row in a dict until the end
would take memory in proportion to the file; instead each row is written to a throwaway
SQLite file next to nothing else (the standard library's sqlite3, not the installation's
database), and read back sorted by order key and line number. SQLite sorts on disk, so
memory stays bounded whatever the file's size; the file is deleted on close.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import Any

_BATCH = 20_000


class RowStage:
    """Rows put aside under a key (an order id), given back grouped by key, each key's
    rows in line order. Use as a context manager: the scratch file is removed on exit."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="aftersale-import-", suffix=".sqlite3")
        os.close(handle)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE rows (key TEXT, line INTEGER, data BLOB)")
        self._pending: list[tuple[str, int, bytes]] = []
        self.count = 0

    def __enter__(self) -> RowStage:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def add(self, key: str, line: int, data: Any) -> None:
        """Put aside `data` (str, numbers, lists, dicts of them) of line `line` under `key`."""
        self._pending.append((key, line, marshal.dumps(data)))
        self.count += 1
        if len(self._pending) >= _BATCH:
            self._flush()

    def grouped(self) -> Iterator[tuple[str, int, Any]]:
        """Every row put aside as (key, line, data), sorted by key then line."""
        self._flush()
        cursor = self._db.execute("SELECT key, line, data FROM rows ORDER BY key, line")
        while batch := cursor.fetchmany(_BATCH):
            for key, line, data in batch:
                yield key, line, marshal.loads(data)

    def close(self) -> None:
        """Forget the rows and delete the scratch file."""
        self._db.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path + suffix)

    def _flush(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending = []
