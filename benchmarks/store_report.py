"""Store report benchmark: the store-level report (repeat purchases, cohorts) on a store of
1,000,000 orders.

    .venv/bin/python benchmarks/store_report.py [--quick] [--orders N] [--format table|json]
        [--postgres URL]

Creates a fresh database (SQLite in a temporary AFTERSALE_HOME, or a new database on the
PostgreSQL server of --postgres, dropped after) and generates with set-based INSERT ...
SELECT over a number series (nothing held in Python) one store: a third as many
customers as orders, each with a first order, the other orders going to a third of the
customers (about six each), spread over three years, one in ten in EUR beside USD, one in
33 cancelled. Then it times `reports.store.store_report` over all customers and a plain
`SELECT COUNT(*)` of the store's orders in the same run: the median of three runs each.
`--format json` prints {"report_seconds", "count_seconds", "orders"}.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throwaway_database import postgres_database, setup_django

START = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
SPAN_SECONDS = 3 * 365 * 86_400
NOW = START + dt.timedelta(days=3 * 365 + 10)
BATCH = 250_000
RUNS = 3


def main() -> None:
    """Parse the arguments, generate the store, time the report, print the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 orders")
    parser.add_argument("--orders", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server's URL")
    parser.add_argument(
        "--home", default="", help="keep the SQLite database here and reuse it on the next run"
    )
    args = parser.parse_args()
    orders = args.orders or (50_000 if args.quick else 1_000_000)
    with _database(args.postgres, args.home) as url:
        os.environ["AFTERSALE_DATABASE_URL"] = url
        setup_django()
        started = time.perf_counter()
        store = _existing() or _generate(orders)
        generated_s = time.perf_counter() - started
        timings, report = _time(store)
    if args.format == "json":
        print(json.dumps({**{k: round(v, 4) for k, v in timings.items()}, "orders": orders}))
        return
    print(
        f"database: {'PostgreSQL' if args.postgres else 'SQLite'}; generated in {generated_s:.0f} s"
    )
    print(f"orders: {orders:,}; customers: {report.customers:,}; cohorts: {len(report.cohorts)}")
    print(
        f"repeat rate: {report.repeat_rate_pct} %; "
        f"median days: {report.median_days_to_second_order}"
    )
    for key, value in timings.items():
        print(f"{key}: {value:.3f}")
    print(f"report CPU seconds in this process: {_CPU[0]:.3f}; load average: {os.getloadavg()}")


@contextlib.contextmanager
def _database(postgres: str, kept: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as temporary:
        home = kept or temporary
        os.environ["AFTERSALE_HOME"] = home
        if not postgres:
            yield f"sqlite:///{home}/bench.sqlite3"
            return
        with postgres_database(postgres) as url:
            yield url


def _existing() -> Any:
    from aftersale.stores.models import Store

    return Store.objects.filter(slug="large").first()


def _generate(orders: int) -> Any:
    from django.db import connection, transaction

    from aftersale.stores.services import create_store

    store = create_store(name="Large Shop", slug="large", now=START)
    customers = max(1, orders // 3)
    repeaters = max(1, customers // 3)
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM customers_customer")
        base = int(cursor.fetchone()[0])
    when = (
        "TIMESTAMPTZ '2022-01-01 00:00:00+00' "
        "+ ((CAST(i AS BIGINT) * 2654435761) %% {span}) * INTERVAL '1 second'"
        if postgres
        else "strftime('%%Y-%%m-%%d %%H:%%M:%%S', '2022-01-01', "
        "'+' || ((CAST(i AS BIGINT) * 2654435761) %% {span}) || ' seconds')"
    ).format(span=SPAN_SECONDS)
    # Order i < customers is customer i's; the others go to the first third.
    tables = [
        (
            "customers_customer",
            customers,
            "store_id, external_id, email, first_name, last_name, time_zone, locale, "
            "accepts_marketing, created_at",
            f"%(store)s, 'c' || i, 'c' || i || '@example.com', '', '', '', '', TRUE, {when}",
        ),
        (
            "orders_order",
            orders,
            "store_id, external_id, customer_id, status, currency, total, refunded_total, "
            "discount_codes, payment_method, shipping_address, placed_at",
            f"%(store)s, 'o' || i, %(base)s + CASE WHEN i < {customers} THEN i "
            f"ELSE (CAST(i AS BIGINT) * 48271) %% {repeaters} END, "
            "CASE WHEN i %% 33 = 0 THEN 'cancelled' ELSE 'paid' END, "
            "CASE WHEN i %% 10 = 0 THEN 'EUR' ELSE 'USD' END, 20 + i %% 180, 0, '[]', '', '', "
            f"{when}",
        ),
    ]
    for table, count, columns, values in tables:
        for low in range(0, count, BATCH):
            high = min(count, low + BATCH) - 1
            series = (
                f"generate_series({low}, {high}) AS s(i)"
                if postgres
                else f"(WITH RECURSIVE s(i) AS (SELECT {low} UNION ALL SELECT i + 1 FROM s "
                f"WHERE i < {high}) SELECT i FROM s) s"
            )
            sql = f"INSERT INTO {table} ({columns}) SELECT {values} FROM {series}"
            if not postgres:
                sql = sql.replace("TRUE", "1")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, {"store": store.pk, "base": base})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return store


_CPU: list[float] = []


def _median(work: Callable[[], object]) -> tuple[float, object]:
    """Median wall-clock seconds of RUNS runs of `work` (its median CPU seconds in this
    process, which is SQLite's work too, appended to _CPU) and its result."""
    times, cpu, result = [], [], None
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = work()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    _CPU.append(statistics.median(cpu))
    return statistics.median(times), result


def _time(store: Any) -> tuple[dict[str, float], Any]:
    from django.db import connection

    from aftersale.reports.store import store_report

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM orders_order WHERE store_id = %s", [store.pk])
            return int(cursor.fetchone()[0])

    report_s, report = _median(lambda: store_report(store=store, now=NOW))
    count_s, _ = _median(count)
    return {"report_seconds": report_s, "count_seconds": count_s}, report


if __name__ == "__main__":
    main()
