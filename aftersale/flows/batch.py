"""Moving many journeys past a fixed delay step with a few set-based UPDATEs.

The per-enrollment path (scheduler.claim_due + advance) spends a lease, a transaction and
a few queries on every journey. A journey that waits at a plain delay step needs none of
that: its next state is `step_index` of the following step and `due_at + duration`. This
module does exactly that for every journey where the per-enrollment path would come to
the same result, in UPDATEs of `chunk` rows, and leaves everything else to it:

- the delay is fixed: counted from the previous step, no weekday or time of day, a whole
  number of seconds (SQLite date arithmetic is done in whole seconds);
- no exit rule of the flow could end the journey now (no later order of the customer, no
  refunded trigger order, still subscribed, no completed trigger checkout) and the flow
  has no exit rule unknown here;
- nobody holds a live lease on the row.

Each UPDATE re-checks in its WHERE clause that the row is still active, due, free and at
that step, so it never races a worker that holds a lease or another batch: at most one
of them moves a journey. It also clears `claimed_by`, so a worker whose lease ran out
while it was still busy with the row loses its write (LeaseLost) instead of overwriting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection

from aftersale.flows.definition import DelayStep, FlowDefinition
from aftersale.flows.models import Enrollment, EnrollmentState, FlowVersion
from aftersale.flows.selectors import definition_of
from aftersale.stores.models import Store

DEFAULT_CHUNK = 5000
_KNOWN_EXIT_RULES = {"purchased_again", "refunded", "unsubscribed", "checkout_completed"}
_TABLE = Enrollment._meta.db_table


@dataclass(frozen=True)
class DelayGroup:
    """Journeys of one flow version waiting at one fixed delay step."""

    version_id: int
    step_index: int
    next_index: int
    seconds: int
    exit_when: tuple[str, ...]


def advance_delays_in_bulk(
    *, now: dt.datetime, store: Store | None = None, chunk: int = DEFAULT_CHUNK
) -> int:
    """Move every active, unleased enrollment due at `now` that waits at a fixed delay
    step (and that no exit rule could end now) past that step, exactly as
    scheduler.advance would, and return how many moved. Enrollments it leaves alone are
    still due for the per-enrollment path."""
    moved = 0
    for group in delay_groups(store=store):
        moved += _advance_group(group, now=now, store=store, chunk=chunk)
    return moved


def delay_groups(*, store: Store | None = None) -> Iterator[DelayGroup]:
    """The (flow version, fixed delay step) pairs with active journeys, all stores
    unless `store` is given."""
    versions = Enrollment.objects.filter(state=EnrollmentState.ACTIVE)
    if store is not None:
        versions = versions.filter(store=store)
    version_ids = FlowVersion.objects.filter(pk__in=versions.values("version_id"))
    for version_id in version_ids.values_list("pk", flat=True):
        yield from _groups_of(version_id, definition_of(version_id))


def _groups_of(version_id: int, definition: FlowDefinition) -> Iterator[DelayGroup]:
    if not set(definition.exit_when) <= _KNOWN_EXIT_RULES:
        return  # a rule this module cannot check in SQL: leave the version to advance()
    for index, step in enumerate(definition.steps):
        seconds = _fixed_seconds(step)
        if seconds is not None:
            yield DelayGroup(
                version_id=version_id,
                step_index=index,
                next_index=definition.index_of(step.next, after=index),
                seconds=seconds,
                exit_when=tuple(definition.exit_when),
            )


def _fixed_seconds(step: object) -> int | None:
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


def _range_end_sql(by_store: bool) -> str:
    return f"""
        SELECT max(id) FROM (
            SELECT c.id FROM {_TABLE} c WHERE c.id > %(after)s AND {_due_sql("c", by_store)}
            ORDER BY c.id LIMIT %(chunk)s
        ) AS due_range
    """


def _update_sql(exit_when: tuple[str, ...], by_store: bool) -> str:
    # PostgreSQL: SKIP LOCKED keeps concurrent batches off each other's rows; the outer
    # WHERE is re-checked on the newest row version if one committed meanwhile.
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    return f"""
        UPDATE {_TABLE}
        SET step_index = %(next)s, due_at = {later_sql("due_at")},
            passed_steps = passed_steps | %(bit)s,
            claimed_by = '', claimed_until = NULL
        WHERE id IN (
            SELECT c.id FROM {_TABLE} c
            WHERE c.id > %(after)s AND c.id <= %(upper)s AND {_due_sql("c", by_store)}
            {_exit_safe_sql(exit_when)}{lock}
        ) AND {_due_sql(_TABLE, by_store)}
    """


def _due_sql(alias: str, by_store: bool) -> str:
    return (
        f"{alias}.state = %(active)s AND {alias}.due_at <= %(now)s"
        f" AND {alias}.version_id = %(version)s AND {alias}.step_index = %(step)s"
        f" AND ({alias}.claimed_until IS NULL OR {alias}.claimed_until < %(now)s)"
        + (f" AND {alias}.store_id = %(store)s" if by_store else "")
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


def _exit_safe_sql(exit_when: tuple[str, ...]) -> str:
    # Conservative: any order after entry, whatever its status, sends the journey to
    # advance(), which decides; so does a cancelled or refunded trigger order.
    clauses = []
    if "purchased_again" in exit_when:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM orders_order o WHERE o.customer_id = c.customer_id"
            " AND o.placed_at > c.entered_at AND o.placed_at <= %(now)s"
            " AND (c.trigger_order_id IS NULL OR o.id <> c.trigger_order_id))"
        )
    if "refunded" in exit_when:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM orders_order t WHERE t.id = c.trigger_order_id"
            " AND t.status IN ('refunded', 'cancelled'))"
        )
    if "unsubscribed" in exit_when:
        clauses.append(
            "EXISTS (SELECT 1 FROM customers_customer u WHERE u.id = c.customer_id"
            " AND u.accepts_marketing AND u.unsubscribed_at IS NULL)"
        )
    if "checkout_completed" in exit_when:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM orders_checkout k WHERE k.id = c.trigger_checkout_id"
            " AND k.completed_at <= %(now)s)"
        )
    return "".join(f" AND {clause}" for clause in clauses)
