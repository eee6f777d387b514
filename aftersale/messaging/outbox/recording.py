"""Recording what the relay answered: each handed-over email's new status and fields
written into its row, only while the sender's claim still holds it and it is still
queued (a claim that expired and was taken over is left to its new owner). An accepted
email is written at once, by one small statement; the rest of a batch together."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField, Field, JSONField

from aftersale.lib.ahead import StatementsAhead
from aftersale.messaging.models import Message, MessageStatus
from aftersale.messaging.outbox.status import check_transition

MAX_ATTEMPTS = 5
RETRY_BASE = dt.timedelta(minutes=5)

# A message and the fields to write into its row ({} releases the claim only).
Update = tuple[Message, dict[str, Any]]


def finished(message: Message, status: MessageStatus, *, error: str, **fields: Any) -> Update:
    check_transition(MessageStatus.QUEUED, status)  # what the UPDATE's condition holds
    if error or message.error:  # an error left from an earlier attempt is cleared
        fields["error"] = error
    return message, {"status": status.value, **fields}


def deferred(message: Message, *, now: dt.datetime, error: str) -> Update:
    attempts = message.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        error = f"gave up after {attempts} attempts: {error}"
        return finished(message, MessageStatus.FAILED, error=error, attempts=attempts)
    later = now + RETRY_BASE * 2**message.attempts
    return message, {"attempts": attempts, "send_after": later, "error": error}


def write_updates(updates: list[Update]) -> None:
    """Give each message its new field values and release its claim, with one UPDATE
    per set of changed fields, touching only rows still queued under the claim we hold
    (a claim that expired and was taken over is left to its new owner)."""
    groups: dict[tuple[str, ...], list[Update]] = {}
    for message, fields in updates:
        groups.setdefault(tuple(fields), []).append((message, fields))
    with transaction.atomic():
        for names, rows in groups.items():
            _update_owned_rows(names, rows)


def write_update(update: Update, *, statements: StatementsAhead) -> None:
    """`write_updates` for one message, as one small prepared-shape UPDATE (no VALUES
    list, no transaction of its own: a single statement is atomic), cheap enough to run
    for every email the moment the relay accepts it. Sent ahead (`statements.wait()`
    returns once it is done: on PostgreSQL in autocommit, committed), so the sender
    writes the next email meanwhile."""
    message, values = update
    names = tuple(values)
    preparers = _preparers(names, connection.vendor)
    params = [prepare(value) for prepare, value in zip(preparers, values.values(), strict=True)]
    statements.send(
        _single_row_update(names),
        [*params, message.pk, message.claimed_by, MessageStatus.QUEUED.value],
    )


_MOMENTS_KEPT = 16  # prepared moments kept per field (a pass has one or two)


@functools.cache
def _preparers(names: tuple[str, ...], vendor: str) -> tuple[Callable[[Any], Any], ...]:
    """For each field of `names`, what turns a value into what the database takes, as
    `_db_value` does but made once per set of fields: a string of a text column goes
    as it is, a JSON value as its JSON text (what SQLite stores; PostgreSQL reads the
    text as the column's jsonb), anything else through its model field."""
    return tuple(_preparer(_field(name)) for name in names)


def _preparer(field: Field[Any, Any]) -> Callable[[Any], Any]:
    if isinstance(field, JSONField):
        encoder = field.encoder

        def as_json(value: Any) -> str:
            if encoder is None and type(value) is list and all(type(v) is str for v in value):
                # The tracked links: json.dumps's own text, each link's kept (they repeat).
                return f"[{', '.join([_json_strings.get(v) or _json_string(v) for v in value])}]"
            return json.dumps(value, cls=encoder)  # None too, as get_db_prep_value: "null"

        return as_json
    if isinstance(field, DateTimeField):  # the pass's moment, the same for every message
        moments: dict[dt.datetime, Any] = {}

        def as_moment(value: Any) -> Any:
            prepared = moments.get(value) if isinstance(value, dt.datetime) else None
            if prepared is None:
                prepared = _db_value(field, value)
                if isinstance(value, dt.datetime) and len(moments) < _MOMENTS_KEPT:
                    moments[value] = prepared
            return prepared

        return as_moment
    if field.get_internal_type() in ("CharField", "TextField"):

        def as_text(value: Any) -> Any:
            return value if type(value) is str else _db_value(field, value)

        return as_text
    return functools.partial(_db_value, field)


_json_strings: dict[str, str] = {}  # a string -> its JSON, for the tracked links
_JSON_STRINGS_KEPT = 20_000


def _json_string(value: str) -> str:
    if len(_json_strings) >= _JSON_STRINGS_KEPT:
        _json_strings.clear()
    written = _json_strings[value] = json.dumps(value)
    return written


def _db_value(field: Field[Any, Any], value: Any) -> Any:
    """`value` of `field` as the database takes it; a moment (the pass's `now`, the
    same for every message) is prepared once."""
    if isinstance(value, dt.datetime):
        return _db_moment(field, value, connection.vendor)
    return field.get_db_prep_value(value, connection)


@functools.lru_cache(maxsize=16)
def _db_moment(field: Field[Any, Any], moment: dt.datetime, vendor: str) -> Any:
    return field.get_db_prep_value(moment, connection)


@functools.cache
def _single_row_update(names: tuple[str, ...]) -> str:
    """The UPDATE of `_write_update` for a set of changed fields (few: one per kind of
    outcome), built once."""
    table = Message._meta.db_table
    assignments = ", ".join(["claimed_until = NULL", *(f"{_field(n).column} = %s" for n in names)])
    return f"UPDATE {table} SET {assignments} WHERE id = %s AND claimed_by = %s AND status = %s"


def _update_owned_rows(names: tuple[str, ...], rows: list[Update]) -> None:
    """UPDATE ... FROM a VALUES list (SQLite 3.33+, PostgreSQL): one statement sets
    per-row values; each value is prepared by its model field, so it arrives typed."""
    table = Message._meta.db_table
    fields = [_field(name) for name in names]
    columns = ["id", "claimed_by", *(str(field.column) for field in fields)]
    params: list[Any] = []
    for message, values in rows:
        params += [message.pk, message.claimed_by]
        params += [f.get_db_prep_value(values[f.name], connection) for f in fields]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    assignments = ", ".join(["claimed_until = NULL", *(f"{c} = v.{c}" for c in columns[2:])])
    sql = (
        f"WITH v({', '.join(columns)}) AS (VALUES {placeholders}) "
        f"UPDATE {table} SET {assignments} FROM v "
        f"WHERE {table}.id = v.id AND {table}.claimed_by = v.claimed_by AND {table}.status = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MessageStatus.QUEUED.value])


def _field(name: str) -> Field[Any, Any]:
    field = Message._meta.get_field(name)
    assert isinstance(field, Field), name  # only concrete columns are ever written here
    return field
