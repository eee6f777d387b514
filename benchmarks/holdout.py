"""Holdout benchmark: the report's holdout and A/B keys for a flow of N journeys.

    .venv/bin/python benchmarks/holdout.py [--quick] [--journeys N]
        [--database-url postgresql://...] [--format text|json]

Creates a fresh database (SQLite in a temporary AFTERSALE_HOME by default; with
--database-url, a new database on that PostgreSQL server, dropped afterwards) and
inserts, with INSERT ... SELECT over a number series, N customers each with a trigger
order and a journey that entered a month ago (one in ten held out, an A/B split taken
half and half), a third of them an order 30 days before entry, one in seven a second
order two days after entry. It then times `reports.experiments.experiment_keys` (three
grouped statements, the bootstrap and CUPED on their results) next to a plain COUNT(*) of
the journeys, and prints both; `--format json` prints {"keys_seconds",
"count_seconds", "journeys"}.
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

FLOW = {
    "name": "Bench",
    "trigger": {"event": "any_purchase"},
    "holdout_percent": 10,
    "steps": [
        {"type": "delay", "days": 1},
        {"type": "ab_split", "variants": [{"weight": 1, "goto": "a"}, {"weight": 1, "goto": "b"}]},
        {"type": "email", "template": "thank-you", "id": "a", "next": "end"},
        {"type": "email", "template": "thank-you", "id": "b"},
        {"type": "exit", "id": "end"},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 journeys")
    parser.add_argument("--journeys", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    with fresh_database(args.database_url):
        result = run(count=args.journeys or (50_000 if args.quick else 1_000_000))
    if args.format == "json":
        print(json.dumps({k: result[k] for k in ("keys_seconds", "count_seconds", "journeys")}))
        return
    print(
        f"{result['journeys']:,} journeys on {result['vendor']} (load {os.getloadavg()[0]:.1f}):\n"
        f"  holdout and A/B keys  {result['keys_seconds']:6.2f} s\n"
        f"  COUNT(*) of journeys  {result['count_seconds']:6.2f} s\n"
        f"  incremental revenue {result['incremental_revenue']} "
        f"{result['incremental_revenue_ci']}, CUPED {result['incremental_revenue_cuped']} "
        f"{result['incremental_revenue_cuped_ci']}, variance reduction "
        f"{result['variance_reduction']}"
    )


def run(*, count: int) -> dict[str, Any]:
    """Populate `count` journeys, time the experiment keys and a COUNT(*) over them."""
    from django.db import connection

    from aftersale.flows.selectors import definition_of
    from aftersale.reports.experiments import experiment_keys

    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    flow = _populate(count=count, entered=now - dt.timedelta(days=30))
    definition = definition_of(flow.versions.get().pk)
    started = time.perf_counter()
    keys = experiment_keys(flow=flow, definition=definition, now=now)
    keys_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM flows_enrollment WHERE flow_id = %s", [flow.pk])
        assert cursor.fetchone()[0] == count
    count_seconds = time.perf_counter() - started
    assert keys["holdout"]["customers"] + keys["recipients"]["customers"] == count
    return {
        "journeys": count,
        "vendor": connection.vendor,
        "keys_seconds": round(keys_seconds, 3),
        "count_seconds": round(count_seconds, 3),
        **{
            k: keys[k]
            for k in (
                "incremental_revenue",
                "incremental_revenue_ci",
                "incremental_revenue_cuped",
                "incremental_revenue_cuped_ci",
                "variance_reduction",
            )
        },
    }


def _populate(*, count: int, entered: dt.datetime) -> Any:
    from django.db import connection, transaction

    from aftersale.customers.models import Customer
    from aftersale.flows.models import Enrollment
    from aftersale.flows.services import install_flow
    from aftersale.messaging.rendering.template_library import install_default_templates
    from aftersale.orders.models import Order
    from aftersale.stores.services import create_store

    store = create_store(name="Bench Shop", slug="bench", now=entered)
    install_default_templates(store=store, now=entered)
    flow = install_flow(store=store, slug="bench", definition=FLOW, now=entered)
    version = flow.versions.get()
    at = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _series_insert(Customer, count, {"external_id": "'c' || i", "email": "'b' || i"}),
            {**_defaults(Customer), "store_id": store.pk, "created_at": at(entered)},
        )
        cursor.execute("SELECT min(id) FROM customers_customer")
        first = cursor.fetchone()[0]
        orders = _defaults(Order)
        orders.update(store_id=store.pk, currency="USD", first=first)
        for prefix, when, every, total in (
            ("t", entered, 1, "(i % 53) + 10"),
            ("p", entered - dt.timedelta(days=30), 3, "(i % 89) + 5"),
            ("s", entered + dt.timedelta(days=2), 7, "(i % 53) * 2 + 5 + (i % 3) * 4"),
        ):
            rows = {
                "external_id": f"'{prefix}' || i",
                "customer_id": "%(first)s + i",
                "total": total,
            }
            cursor.execute(
                _series_insert(Order, count, rows, every=every),
                {**orders, "placed_at": at(when), "created_at": at(when), "updated_at": at(when)},
            )
        cursor.execute(
            "SELECT min(id) FROM orders_order WHERE external_id = 't0' AND store_id = %s",
            [store.pk],
        )
        first_order = cursor.fetchone()[0]
        rows = {
            "customer_id": "%(first)s + i",
            "trigger_order_id": "%(first_order)s + i",
            "holdout": "(i % 10 = 0)",
            "ab_variants": "CASE WHEN i % 2 = 0 THEN '1:0;' ELSE '1:1;' END",
            # The covariates entry fixes (flows.covariates), of the orders above.
            "spend_90d": "CASE WHEN i % 3 = 0 THEN (i % 89) + 5 ELSE 0 END",
            "orders_90d": "CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END",
            "trigger_value": "(i % 53) + 10",
        }
        values = _defaults(Enrollment)
        values.update(
            store_id=store.pk,
            flow_id=flow.pk,
            version_id=version.pk,
            first=first,
            first_order=first_order,
            state="completed",
            entered_at=at(entered),
            ended_at=at(entered + dt.timedelta(days=1)),
        )
        cursor.execute(_series_insert(Enrollment, count, rows), values)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return flow


def _series_insert(model: Any, count: int, rows: dict[str, str], *, every: int = 1) -> str:
    """INSERT INTO the model's table a row per i in 0..count-1 with i % every = 0; a
    column takes its SQL expression in `rows`, else the parameter of its name."""
    from django.db import connection

    table = model._meta.db_table
    columns = [str(f.column) for f in model._meta.concrete_fields if not f.primary_key]
    expressions = ", ".join(rows.get(c, f"%({c})s") for c in columns)
    where = f"WHERE i % {every} = 0" if every > 1 else ""
    insert = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {expressions} FROM"
    if connection.vendor == "postgresql":
        sql = f"{insert} generate_series(0, {count - 1}) AS s(i) {where}"
    else:
        series = f"SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {count - 1}"
        sql = f"WITH RECURSIVE s(i) AS ({series}) {insert} s {where}"
    # A modulo is a literal % among the named parameters.
    return sql.replace("%", "%%").replace("%%(", "%(")


def _defaults(model: Any) -> dict[str, Any]:
    from django.db import connection

    return {
        str(f.column): f.get_db_prep_value(f.get_default(), connection)
        for f in model._meta.concrete_fields
        if not f.primary_key
    }


if __name__ == "__main__":
    main()
