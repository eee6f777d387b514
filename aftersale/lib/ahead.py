"""Statements sent ahead: one small statement handed to PostgreSQL without waiting for
it, so the caller works on while the server runs (and, in autocommit, commits) it, and
waits for it only when it must know it is done. Used by the sender to record an
accepted email while the next one is written to the relay."""

from __future__ import annotations

import functools
import select
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection
from django.db.backends.utils import CursorWrapper


class StatementsAhead:
    """Statements on Django's default connection, each sent at once by `send`, and
    finished (on PostgreSQL in autocommit: committed, so durable) once `wait` returns.
    At most one is in flight: `send` first waits for the one before.

    On PostgreSQL the parameters are dumped as text by psycopg's adapters (what Django
    hands it: strings, moments, Jsonb) and sent apart from the statement, whose types
    the server infers from the columns, with libpq's asynchronous calls on the same
    connection (no client-side binding to pay for each time); any other
    query on the connection meanwhile waits for it first (`guarding`), so the
    connection is never asked two things at once. On other databases (SQLite, a local
    file with no round trip to hide) `send` runs the statement at once."""

    def __init__(self, cursor: CursorWrapper) -> None:
        self._cursor = cursor
        self._pgconn: Any = None
        self._encoding = "utf-8"
        self._in_flight = False
        if connection.vendor == "postgresql":
            from psycopg.adapt import PyFormat, Transformer

            raw = connection.connection
            self._pgconn, self._encoding = raw.pgconn, raw.info.encoding
            self._dumper, self._text = Transformer(raw), PyFormat.TEXT

    def send(self, sql: str, params: Sequence[Any]) -> None:
        """Run `sql` with `params`: on PostgreSQL sent and not waited for."""
        self.wait()
        if self._pgconn is None:
            self._cursor.execute(sql, params)
            return
        with connection.wrap_database_errors:
            values = [self._dumped(param) for param in params]
            self._pgconn.send_query_params(_numbered(sql).encode(self._encoding), values)
            self._in_flight = True
            while self._pgconn.flush():  # 1: more to write; the socket will take it soon
                select.select([], [self._pgconn.socket], [])

    def _dumped(self, param: Any) -> bytes | bytearray | memoryview | None:
        """`param` as text for the server, as psycopg's dumpers write it: a string
        (without NUL, which psycopg refuses) encoded and an int's digits here, which is
        most of what is sent and costs a fraction of a dumper's call; the rest by psycopg."""
        kind = type(param)
        if kind is str and "\x00" not in param:
            return param.encode(self._encoding)  # type: ignore[no-any-return]
        if param is None:
            return None
        if kind is int:
            return str(param).encode()
        return self._dumper.dump_sequence([param], [self._text])[0]

    def wait(self) -> None:
        """Return once the statement sent last has finished; raise DatabaseError with
        the server's message if it failed."""
        if not self._in_flight:
            return
        self._in_flight = False
        pgconn, error = self._pgconn, ""
        with connection.wrap_database_errors:
            pgconn.consume_input()
            while pgconn.is_busy():
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            while (result := pgconn.get_result()) is not None:
                if result.error_message and not error:
                    error = result.error_message.decode(self._encoding, "replace").strip()
        if error:
            raise DatabaseError(f"a statement sent ahead failed: {error}")

    @contextmanager
    def guarding(self) -> Iterator[None]:
        """While inside, every other query on the connection first waits for the
        statement in flight, and on leaving it is waited for too."""

        def wait_first(execute: Callable[..., Any], *args: Any) -> Any:
            self.wait()
            return execute(*args)

        try:
            with connection.execute_wrapper(wait_first):
                yield
        finally:
            self.wait()


@functools.cache
def _numbered(sql: str) -> str:
    """`sql` with its %s placeholders numbered as PostgreSQL's ($1, $2, ...); `sql`
    has no other %."""
    parts = sql.split("%s")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]
