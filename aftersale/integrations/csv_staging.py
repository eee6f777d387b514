"""A scratch SQLite file that puts a CSV file's rows back together by order.

Exports do not always keep an order's rows adjacent (a gift shop's invoices came in
whatever order its spreadsheet was sorted). Holding every row in a dict until the end
would take memory in proportion to the file; instead each row is written to a throwaway
SQLite file next to nothing else (the standard library's sqlite3, not the installation's
database), and read back sorted by order key and line number. SQLite sorts on disk, so
memory stays bounded whatever the file's size; the file is deleted on close.

A CSV row whose values fill the stage's `columns` is kept as one text, its values joined
by a separator no value holds (splitting it back costs a fraction of (un)marshalling a
dict: 1,000,000 rows of benchmarks/import.py's file, about 3 s of CPU less); any other
data is marshalled.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

_BATCH = 20_000
# Between the values of a row kept as text: the ASCII unit separator, which a value
# holding it keeps out of (such a row is marshalled instead).
_SEPARATOR = "\x1f"
# The page cache of the scratch file, in KiB: SQLite sorts in memory runs of this size
# before merging them from disk (its default of 2 MiB makes many small runs).
_CACHE_KIB = 32 * 1024


class RowStage:
    """Rows put aside under a key (an order id), given back grouped by key, each key's
    rows in line order. Use as a context manager: the scratch file is removed on exit.
    `columns` (distinct names, in a CSV header's order) lets `add_values` keep a row
    naming exactly those columns as one text."""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        handle, self.path = tempfile.mkstemp(prefix="aftersale-import-", suffix=".sqlite3")
        os.close(handle)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        pragmas = ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE")
        for pragma in (*pragmas, f"cache_size=-{_CACHE_KIB}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE rows (key TEXT, line INTEGER, data BLOB)")
        self._pending: list[tuple[str, int, bytes | str]] = []
        self._columns = tuple(columns)
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

    def add_values(self, key: str, line: int, values: dict[str, str], errors: list[str]) -> None:
        """Put aside a CSV row's `values` and `errors` as add(key, line, (values, errors))
        does; grouped() gives back an equal dict and list."""
        if not errors and len(values) == len(self._columns):
            text = _SEPARATOR.join(values.values())
            # A value holding the separator would split in two: such a row is marshalled.
            if text.count(_SEPARATOR) == len(values) - 1 and tuple(values) == self._columns:
                self._pending.append((key, line, text))
                self.count += 1
                if len(self._pending) >= _BATCH:
                    self._flush()
                return
        self.add(key, line, (values, errors))

    def grouped(self) -> Iterator[tuple[str, int, Any]]:
        """Every row put aside as (key, line, data), sorted by key then line."""
        self._flush()
        columns = self._columns
        cursor = self._db.execute("SELECT key, line, data FROM rows ORDER BY key, line")
        while batch := cursor.fetchmany(_BATCH):
            for key, line, data in batch:
                if data.__class__ is str:
                    yield key, line, (dict(zip(columns, data.split(_SEPARATOR), strict=True)), [])
                else:
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
