"""Moving many journeys past a fixed delay step with a few set-based UPDATEs.

The per-enrollment path (scheduler.claim_due + advance) spends a lease, a transaction and
a few queries on every journey. A journey that waits at a plain delay step needs none of
that: its next state is `step_index` of the following step and `due_at + duration`. This
module does exactly that for every journey where the per-enrollment path would come to
the same result, in UPDATEs of `chunk` rows, and leaves everything else to it:

- the delay is fixed: counted from the previous step, no weekday or time of day, a whole
  number of seconds (SQLite date arithmetic is done in whole seconds);
- no exit rule of the flow could end the journey now (no later purchase of the customer,
  no refunded or cancelled trigger order, still subscribed, no completed trigger
  checkout: the same checks advance() makes, with the statuses of orders.NOT_PURCHASES)
  and the flow has no exit rule unknown here;
- nobody holds a live lease on the row.

Each UPDATE re-checks in its WHERE clause that the row is still active, due, free and at
that step, so it never races a worker that holds a lease or another batch: at most one
of them moves a journey. It also clears `claimed_by`, so a worker whose lease ran out
while it was still busy with the row loses its write (LeaseLost) instead of overwriting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model

from aftersale.customers.models import Customer
from aftersale.flows.definition import DelayStep, FlowDefinition
from aftersale.flows.models import Enrollment, EnrollmentState, Flow, FlowVersion
from aftersale.flows.selectors import definition_of
from aftersale.orders.models import NOT_PURCHASES, Checkout, Order
from aftersale.stores.models import Store

DEFAULT_CHUNK = 5000


@dataclass(frozen=True)
class DelayGroup:
    """Journeys of one flow version waiting at one fixed delay step."""

    version_id: int
    step_index: int
    next_index: int
    seconds: int
    exit_when: tuple[str, ...]


def advance_delays_in_bulk(
    *,
    now: dt.datetime,
    store: Store | None = None,
    chunk: int = DEFAULT_CHUNK,
    flow: Flow | None = None,
) -> int:
    """Move every active, unleased enrollment due at `now` that waits at a fixed delay
    step (and that no exit rule could end now) past that step, exactly as
    scheduler.advance would, and return how many moved. Enrollments it leaves alone are
    still due for the per-enrollment path. With `flow`, only that flow's journeys."""
    moved = 0
    with _sole_mover(flow) as sole:
        if not sole:
            return 0
        for group in delay_groups(store=store, flow=flow):
            moved += _advance_group(group, now=now, store=store, chunk=chunk)
    return moved


# The advisory lock taken by the worker moving delays in bulk (its second key is the flow
# when only one flow's journeys move, as in a backtest; 0 for every flow's).
BULK_LOCK = 0x41465453  # "AFTS"


@contextmanager
def _sole_mover(flow: Flow | None) -> Iterator[bool]:
    """Whether this process may move delays in bulk now: on PostgreSQL while it holds a
    session advisory lock that one process at a time can take. Workers that ran the
    same UPDATEs side by side waited on each other's rows and then found them moved,
    spending CPU for nothing (benchmarks/scale.py --every-queue); a worker that finds the
    lock taken leaves the delays to its holder and goes on to its claims. Another
    database (SQLite: one writer at a time) needs no lock. A dead worker's connection
    takes its lock with it."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = (BULK_LOCK, flow.pk if flow is not None else 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def delay_groups(*, store: Store | None = None, flow: Flow | None = None) -> Iterator[DelayGroup]:
    """The (flow version, fixed delay step) pairs with active journeys, all stores
    unless `store` is given (only `flow`'s versions when given)."""
    versions = Enrollment.objects.filter(state=EnrollmentState.ACTIVE)
    if store is not None:
        versions = versions.filter(store=store)
    if flow is not None:
        versions = versions.filter(flow=flow)
    version_ids = FlowVersion.objects.filter(pk__in=versions.values("version_id"))
    for version_id in version_ids.values_list("pk", flat=True):
        yield from _groups_of(version_id, definition_of(version_id))


def _groups_of(version_id: int, definition: FlowDefinition) -> Iterator[DelayGroup]:
    if not set(definition.exit_when) <= _KNOWN_EXIT_RULES:
        return  # a rule this module cannot check in SQL: leave the version to advance()
    for index, step in enumerate(definition.steps):
        seconds = fixed_seconds(step)
        if seconds is not None:
            yield DelayGroup(
                version_id=version_id,
                step_index=index,
                next_index=definition.index_of(step.next, after=index),
                seconds=seconds,
                exit_when=tuple(definition.exit_when),
            )


def fixed_seconds(step: object) -> int | None:
    """The length in whole seconds of a delay step counted from the previous step with no
    weekday or time of day (which SQL can add to due_at), else None."""
    if not isinstance(step, DelayStep) or step.relative_to != "previous_step":
        return None
    if step.weekdays or step.at is not None:
        return None
    duration = step.duration
    if duration.microseconds:
        return None
    return int(duration.total_seconds())


def _advance_group(group: DelayGroup, *, now: dt.datetime, store: Store | None, chunk: int) -> int:
    # Walk the group in id order, one range of at most `chunk` due rows at a time: each
    # range is found and updated through the primary key, so the work stays linear in
    # the number of due rows whatever the planner thinks of the exit-rule subqueries.
    params: dict[str, Any] = {
        "version": group.version_id,
        "step": group.step_index,
        "next": group.next_index,
        "bit": 1 << group.step_index,
        "seconds": group.seconds,
        "now": connection.ops.adapt_datetimefield_value(now),
        "chunk": chunk,
        "store": store.pk if store is not None else None,
        "active": EnrollmentState.ACTIVE.value,
        "after": 0,
    }
    by_store, moved = store is not None, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_range_end_sql(by_store), params)
            upper = cursor.fetchone()[0]
            if upper is None:
                return moved
            cursor.execute(_update_sql(group.exit_when, by_store), {**params, "upper": upper})
            moved += int(cursor.rowcount)
            params["after"] = upper


class _Table:
    """A model's table in a statement, under `alias` (else its own name): every table
    and column name the SQL here uses comes from the models' _meta, so a renamed table
    or column cannot leave this module behind."""

    def __init__(self, model: type[Model], alias: str = "") -> None:
        self._meta = model._meta
        self.name = _quoted(self._meta.db_table)
        self.alias = alias

    def __str__(self) -> str:
        """The table as FROM and UPDATE name it."""
        return f"{self.name} {self.alias}" if self.alias else self.name

    def __getitem__(self, field: str) -> str:
        """The column of model field `field` ("pk" for the primary key), qualified."""
        return f"{self.alias or self.name}.{self.column(field)}"

    def column(self, field: str) -> str:
        """The column of model field `field`, unqualified (for SET)."""
        model_field = self._meta.pk if field == "pk" else self._meta.get_field(field)
        column = getattr(model_field, "column", None)
        if not isinstance(column, str):  # a reverse relation has no column of its own
            raise LookupError(f"{self._meta.label}.{field} is no column")
        return _quoted(column)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _range_end_sql(by_store: bool) -> str:
    c = _Table(Enrollment, "c")
    return f"""
        SELECT max(due_range.{c.column("pk")}) FROM (
            SELECT {c["pk"]} FROM {c} WHERE {c["pk"]} > %(after)s AND {_due_sql(c, by_store)}
            ORDER BY {c["pk"]} LIMIT %(chunk)s
        ) AS due_range
    """


def _update_sql(exit_when: tuple[str, ...], by_store: bool) -> str:
    # PostgreSQL: SKIP LOCKED keeps concurrent batches off each other's rows; the outer
    # WHERE is re-checked on the newest row version if one committed meanwhile.
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    table, c = _Table(Enrollment), _Table(Enrollment, "c")
    return f"""
        UPDATE {table}
        SET {table.column("step_index")} = %(next)s,
            {table.column("due_at")} = {later_sql(table.column("due_at"))},
            {table.column("passed_steps")} = {table.column("passed_steps")} | %(bit)s,
            {table.column("claimed_by")} = '', {table.column("claimed_until")} = NULL
        WHERE {table["pk"]} IN (
            SELECT {c["pk"]} FROM {c}
            WHERE {c["pk"]} > %(after)s AND {c["pk"]} <= %(upper)s AND {_due_sql(c, by_store)}
            {_exit_safe_sql(c, exit_when)}{lock}
        ) AND {_due_sql(table, by_store)}
    """


def _due_sql(c: _Table, by_store: bool) -> str:
    return (
        f"{c['state']} = %(active)s AND {c['due_at']} <= %(now)s"
        f" AND {c['version']} = %(version)s AND {c['step_index']} = %(step)s"
        f" AND ({c['claimed_until']} IS NULL OR {c['claimed_until']} < %(now)s)"
        + (f" AND {c['store']} = %(store)s" if by_store else "")
    )


def later_sql(column: str) -> str:
    """SQL for `column` + %(seconds)s seconds, in the column's own storage format (on
    SQLite a text timestamp whose fraction of a second is kept as it was)."""
    if connection.vendor == "postgresql":
        return f"{column} + make_interval(secs => %(seconds)s)"
    return (
        f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', {column}, '+' || %(seconds)s || ' seconds')"
        f" || substr({column}, 20)"
    )


# The statuses of orders that were no purchase, written into the statements as literals:
# SQLite plans an IN list of bound parameters ~5% slower per batch. They are our own
# constants (orders.NOT_PURCHASES), checked here to be plain words.
_NOT_PURCHASE_LITERALS = tuple(f"'{status}'" for status in NOT_PURCHASES)
assert all(str(status).isidentifier() for status in NOT_PURCHASES), NOT_PURCHASES


def _no_purchase(status: str, *, negate: bool = False) -> str:
    """SQL: the `status` column is (with `negate`, is not) one of orders.NOT_PURCHASES."""
    if not _NOT_PURCHASE_LITERALS:
        return "1 = 1" if negate else "1 = 0"
    return f"{status} {'NOT IN' if negate else 'IN'} ({', '.join(_NOT_PURCHASE_LITERALS)})"


# What each exit rule advance() knows (flows.services.exit_reason and
# scheduler._exit_if_ruled_out) looks like in SQL: the condition under which the rule
# cannot end the journey of enrollment `c` at %(now)s. Each mirrors the per-enrollment
# check exactly; a rule missing here makes its versions go through advance() only.
def _not_purchased_again(c: _Table) -> str:
    o = _Table(Order, "o")
    return (
        f"NOT EXISTS (SELECT 1 FROM {o} WHERE {o['customer']} = {c['customer']}"
        f" AND {o['placed_at']} > {c['entered_at']} AND {o['placed_at']} <= %(now)s"
        f" AND ({c['trigger_order']} IS NULL OR {o['pk']} <> {c['trigger_order']})"
        f" AND {_no_purchase(o['status'], negate=True)})"
    )


def _not_refunded(c: _Table) -> str:
    t = _Table(Order, "t")
    return (
        f"NOT EXISTS (SELECT 1 FROM {t} WHERE {t['pk']} = {c['trigger_order']}"
        f" AND {_no_purchase(t['status'])})"
    )


def _still_subscribed(c: _Table) -> str:
    u = _Table(Customer, "u")
    return (
        f"EXISTS (SELECT 1 FROM {u} WHERE {u['pk']} = {c['customer']}"
        f" AND {u['accepts_marketing']} AND {u['unsubscribed_at']} IS NULL)"
    )


def _checkout_not_completed(c: _Table) -> str:
    k = _Table(Checkout, "k")
    return (
        f"NOT EXISTS (SELECT 1 FROM {k} WHERE {k['pk']} = {c['trigger_checkout']}"
        f" AND {k['completed_at']} <= %(now)s)"
    )


_EXIT_SAFE: dict[str, Callable[[_Table], str]] = {
    "purchased_again": _not_purchased_again,
    "refunded": _not_refunded,
    "unsubscribed": _still_subscribed,
    "checkout_completed": _checkout_not_completed,
}
_KNOWN_EXIT_RULES = frozenset(_EXIT_SAFE)


def _exit_safe_sql(c: _Table, exit_when: tuple[str, ...]) -> str:
    return "".join(f" AND {_EXIT_SAFE[rule](c)}" for rule in exit_when)
