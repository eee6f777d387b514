"""Scheduler benchmark: N enrollments due at once, advanced through one delay step.

    .venv/bin/python benchmarks/scheduler.py [--quick] [--database-url postgresql://...]
        [--enrollments N] [--path bulk|per-enrollment] [--format text|json]

Creates a fresh database (SQLite in a temporary AFTERSALE_HOME by default; with
--database-url, a new database on that PostgreSQL server, dropped afterwards), inserts N
customers and N enrollments of a live flow [delay 1 day, email] all due now with raw
bulk INSERTs, then times, on the same table:

- the baseline: one `UPDATE ... SET due_at = due_at + 1 day, step_index = step_index + 1
  WHERE state = 'active' AND due_at <= now` (same date arithmetic as the scheduler's);
- the scheduler: passes of flows.batch.advance_delays_in_bulk (the set-based fast path)
  followed by flows.scheduler.run_due_enrollments (the per-enrollment path, which takes
  whatever the fast path leaves), until a pass finds nothing due; with
  `--path per-enrollment`, run_due_enrollments alone.

It checks that every enrollment ended at step 1 due a day later, then prints both rates
and their ratio; `--format json` prints exactly {"enrollments_per_s", "baseline_per_s",
"ratio"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throwaway_database import fresh_database

DAY_SECONDS = 86_400
FLOW = {
    "name": "Bench",
    "trigger": {"event": "any_purchase"},
    "steps": [{"type": "delay", "days": 1}, {"type": "email", "template": "thank-you"}],
}


def main() -> None:
    """Parse the arguments, run the benchmark on a fresh database, print the result."""
    args = _arguments()
    count = args.enrollments or (50_000 if args.quick else 1_000_000)
    with fresh_database(args.database_url):
        result = run(count=count, path=args.path, chunk=args.chunk)
    if args.format == "json":
        print(json.dumps({k: result[k] for k in ("enrollments_per_s", "baseline_per_s", "ratio")}))
        return
    print(
        f"{count:,} enrollments on {result['vendor']} ({args.path} path, load {_load()}):\n"
        f"  scheduler  {result['scheduler_s']:8.2f} s  {result['enrollments_per_s']:>12,.0f} /s\n"
        f"  baseline   {result['baseline_s']:8.2f} s  {result['baseline_per_s']:>12,.0f} /s\n"
        f"  ratio      {result['ratio']:.2f} (goal >= 0.5)"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 enrollments")
    parser.add_argument("--enrollments", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--path", choices=("bulk", "per-enrollment"), default="bulk")
    parser.add_argument("--chunk", type=int, default=5000, help="rows per bulk UPDATE")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


def run(*, count: int, path: str, chunk: int) -> dict[str, Any]:
    """Populate `count` due enrollments, time the baseline and the scheduler on them and
    return the timings and rates."""
    from django.db import connection

    from aftersale.flows import batch, scheduler  # noqa: F401  (import time is not work)
    from aftersale.lib.clock import now as clock_now

    now = clock_now()
    _populate(count=count, now=now)
    baseline_s = _timed(lambda: _baseline(now=now))
    _check_advanced(count=count, now=now)
    _reset(now=now)
    scheduler_s = _timed(lambda: _scheduler(now=now, path=path, chunk=chunk))
    _check_advanced(count=count, now=now)
    return {
        "vendor": connection.vendor,
        "scheduler_s": scheduler_s,
        "baseline_s": baseline_s,
        "enrollments_per_s": count / scheduler_s,
        "baseline_per_s": count / baseline_s,
        "ratio": baseline_s / scheduler_s,
    }


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _populate(*, count: int, now: dt.datetime) -> None:
    """A store, templates, the live flow, then `count` customers and `count` enrollments
    due within the last hour, inserted with INSERT ... SELECT over a number series."""
    from django.db import connection, transaction

    from aftersale.flows.services import install_flow
    from aftersale.messaging.rendering.template_library import install_default_templates
    from aftersale.stores.services import create_store

    store = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Bench Shop", slug="bench", now=now
    )
    install_default_templates(store=store, now=now)
    flow = install_flow(store=store, slug="bench", definition=FLOW, now=now)
    version = flow.versions.get()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_series_insert("customers_customer", count), _customer_values(store, now))
        first_customer = _scalar("SELECT min(id) FROM customers_customer")
        values = _enrollment_values(flow, version, first_customer, now)
        cursor.execute(_series_insert("flows_enrollment", count), values)
    _analyze()


def _series_insert(table: str, count: int) -> str:
    """INSERT INTO `table` one row per i in 0..count-1; row values may use `i`."""
    from django.apps import apps
    from django.db import connection

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    columns = [str(f.column) for f in model._meta.concrete_fields if not f.primary_key]
    expressions = ", ".join(_ROW_EXPRESSIONS.get(c, f"%({c})s") for c in columns)
    if connection.vendor == "postgresql":
        series = f"generate_series(0, {count - 1}) AS s(i)"
        return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {expressions} FROM {series}"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {count - 1}) "
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {expressions} FROM s"
    )


# Per-row values; every other column gets the named parameter (its default below).
_ROW_EXPRESSIONS = {
    "external_id": "'c' || i",
    "email": "'buyer' || i || '@example.com'",
    "customer_id": "%(first_customer)s + i",
}


def _customer_values(store: Any, now: dt.datetime) -> dict[str, Any]:
    from aftersale.customers.models import Customer

    values = _defaults(Customer)
    values.update(store_id=store.pk, created_at=_db_time(now), accepts_marketing=True)
    return values


def _enrollment_values(
    flow: Any, version: Any, first_customer: int, now: dt.datetime
) -> dict[str, Any]:
    from aftersale.flows.models import Enrollment

    values = _defaults(Enrollment)
    values.update(
        store_id=flow.store_id,
        flow_id=flow.pk,
        version_id=version.pk,
        first_customer=first_customer,
        state="active",
        step_index=0,
        entered_at=_db_time(now - dt.timedelta(hours=1)),
        due_at=_db_time(now - dt.timedelta(minutes=30)),
    )
    return values


def _defaults(model: Any) -> dict[str, Any]:
    from django.db import connection

    return {
        str(f.column): f.get_db_prep_value(f.get_default(), connection)
        for f in model._meta.concrete_fields
        if not f.primary_key
    }


def _db_time(moment: dt.datetime) -> Any:
    from django.db import connection

    return connection.ops.adapt_datetimefield_value(moment)


def _baseline(*, now: dt.datetime) -> None:
    from django.db import connection, transaction

    from aftersale.flows.batch import later_sql

    sql = (
        f"UPDATE flows_enrollment SET due_at = {later_sql('due_at')}, "
        "step_index = step_index + 1 WHERE state = 'active' AND due_at <= %(now)s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"seconds": DAY_SECONDS, "now": _db_time(now)})


def _reset(*, now: dt.datetime) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE flows_enrollment SET step_index = 0, due_at = %(due)s",
            {"due": _db_time(now - dt.timedelta(minutes=30))},
        )
    _analyze()


def _scheduler(*, now: dt.datetime, path: str, chunk: int) -> None:
    """Scheduler passes at `now` until one finds nothing due."""
    from aftersale.flows.batch import advance_delays_in_bulk
    from aftersale.flows.scheduler import run_due_enrollments

    while True:
        moved = advance_delays_in_bulk(now=now, chunk=chunk) if path == "bulk" else 0
        claimed = run_due_enrollments(now=now, worker_id="bench").claimed
        if not moved and not claimed:
            return


def _check_advanced(*, count: int, now: dt.datetime) -> None:
    moved = _scalar(
        "SELECT count(*) FROM flows_enrollment WHERE step_index = 1 AND due_at > %(now)s",
        {"now": _db_time(now)},
    )
    if moved != count:
        raise SystemExit(f"only {moved} of {count} enrollments were advanced")


def _scalar(sql: str, params: dict[str, Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
