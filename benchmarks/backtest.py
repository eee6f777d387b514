"""Backtest benchmark: how long a backtest takes, and whether the API can still ingest
orders while one runs.

    .venv/bin/python benchmarks/backtest.py [--quick] [--database-url postgresql://...]
        [--orders N] [--format text|json]

Creates a fresh database (SQLite in a temporary AFTERSALE_HOME by default; with
--database-url, a new database on that PostgreSQL server, dropped afterwards), a store
with the default templates, the ready post-purchase upsell flow as a draft, and N orders
(default 3,000; --quick 300) of N/2 customers over the last 90 days. Then:

- alone: orders are ingested one at a time through the service POST /api/v1/orders
  calls (integrations.services.receive_orders), in a thread of their own, one every
  20 ms (50 a second, a busy shop's webhooks), and each call's latency is kept;
- during: a backtest of the flow over the last 90 days is queued and run as the worker
  runs it (flows.backtest_runs.run_queued_backtest: a SQLite snapshot, or a PostgreSQL
  transaction rolled back), while the same ingest thread posts orders until it ends.

It checks the backtest finished and every posted order is stored once, then prints the
backtest's seconds and the p99 ingest latency alone and during it (with their ratio);
`--format json` prints exactly {"backtest_seconds", "ingest_p99_during",
"ingest_p99_alone"} (seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throwaway_database import fresh_database

DAYS = 90
PACE = 0.02  # seconds between two posted orders


def main() -> None:
    """Parse the arguments, run the benchmark on a fresh database, print the result."""
    args = _arguments()
    count = args.orders or (300 if args.quick else 3_000)
    with fresh_database(args.database_url) as home:
        result = run(orders=count, home=home, alone=100 if args.quick else 300)
    if args.format == "json":
        keys = ("backtest_seconds", "ingest_p99_during", "ingest_p99_alone")
        print(json.dumps({k: result[k] for k in keys}))
        return
    print(
        f"backtest of {count:,} orders over {DAYS} days on {result['vendor']}: "
        f"{result['backtest_seconds']:.2f} s ({result['emails']:,} emails it would send)\n"
        f"  ingest p99 alone   {result['ingest_p99_alone'] * 1000:8.1f} ms "
        f"({result['posted_alone']} orders)\n"
        f"  ingest p99 during  {result['ingest_p99_during'] * 1000:8.1f} ms "
        f"({result['posted_during']} orders)\n"
        f"  ratio              {result['ingest_p99_during'] / result['ingest_p99_alone']:.2f}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 orders")
    parser.add_argument("--orders", type=int, default=0, help="default 3,000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


def run(*, orders: int, home: Path, alone: int) -> dict[str, Any]:
    """Populate the store, time ingesting `alone` orders with no backtest, then a
    backtest with orders ingested next to it; return the timings."""
    from django.db import connection

    from aftersale.flows.backtest_runs import queue_backtest, run_queued_backtest
    from aftersale.flows.models import BacktestRun
    from aftersale.lib.clock import now as clock_now
    from aftersale.lib.runs import RunStatus, claim_run
    from aftersale.orders.models import Order

    now = clock_now()
    store, flow = _populate(orders=orders, now=now)
    connection.close()  # the threads below open their own

    latencies_alone = _ingest(store, prefix="alone", stop=_after(alone))
    run = queue_backtest(flow=flow, days=DAYS, now=now)
    assert claim_run(BacktestRun, pk=run.pk, now=now)
    run.refresh_from_db()
    finished = threading.Event()
    timing: dict[str, float] = {}

    def backtest() -> None:
        started = time.perf_counter()
        try:
            run_queued_backtest(run=run, directory=home / "runs", now=clock_now)
        finally:
            timing["seconds"] = time.perf_counter() - started
            finished.set()
            connection.close()

    worker = threading.Thread(target=backtest)
    worker.start()
    latencies_during = _ingest(store, prefix="during", stop=finished.is_set)
    worker.join()
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    posted = len(latencies_alone) + len(latencies_during)
    stored = Order.objects.filter(store=store, external_id__startswith="live-").count()
    assert stored == posted, f"{posted} orders posted, {stored} stored"
    return {
        "vendor": connection.vendor,
        "backtest_seconds": round(timing["seconds"], 3),
        "ingest_p99_alone": round(_p99(latencies_alone), 4),
        "ingest_p99_during": round(_p99(latencies_during), 4),
        "posted_alone": len(latencies_alone),
        "posted_during": len(latencies_during),
        "emails": (run.result or {}).get("emails", 0),
    }


def _after(count: int):  # type: ignore[no-untyped-def]
    left = [count]

    def stop() -> bool:
        left[0] -= 1
        return left[0] < 0

    return stop


def _ingest(store: Any, *, prefix: str, stop: Any) -> list[float]:
    """Post orders one at a time through the API's service, in a thread of its own,
    until `stop()`; the seconds each took."""
    from django.db import connection

    from aftersale.customers.records import CustomerRecord
    from aftersale.integrations.services import receive_orders
    from aftersale.lib.clock import now as clock_now
    from aftersale.orders.records import LineItemRecord, OrderRecord

    latencies: list[float] = []

    def post() -> None:
        try:
            n = 0
            while not stop() or n < 5:
                time.sleep(PACE)
                who = f"{prefix}-{n % 50}"
                record = OrderRecord(
                    external_id=f"live-{prefix}-{n}",
                    customer=CustomerRecord(who, f"{who}@example.com"),
                    placed_at=clock_now(),
                    line_items=(LineItemRecord("p1", 1, Decimal("9.99"), product_name="Mug"),),
                )
                started = time.perf_counter()
                receive_orders(store=store, records=[record], now=clock_now())
                latencies.append(time.perf_counter() - started)
                n += 1
        finally:
            connection.close()

    thread = threading.Thread(target=post)
    thread.start()
    thread.join()
    return latencies


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _populate(*, orders: int, now: dt.datetime) -> tuple[Any, Any]:
    from aftersale.customers.records import CustomerRecord
    from aftersale.flows.models import FlowStatus
    from aftersale.flows.services import install_library_flow
    from aftersale.integrations.services import receive_orders
    from aftersale.messaging.rendering.template_library import install_default_templates
    from aftersale.orders.records import LineItemRecord, OrderRecord
    from aftersale.stores.services import create_store

    start = now - dt.timedelta(days=DAYS)
    store = create_store(name="Bench Shop", slug="bench", now=start)
    install_default_templates(store=store, now=start)
    flow = install_library_flow(
        store=store, slug="post-purchase-upsell", now=start, status=FlowStatus.DRAFT
    )
    step = dt.timedelta(days=DAYS) / (orders + 1)
    records = [
        OrderRecord(
            external_id=f"o{n}",
            customer=CustomerRecord(f"c{n % (orders // 2)}", f"c{n % (orders // 2)}@example.com"),
            placed_at=start + step * (n + 1),
            line_items=(
                LineItemRecord(f"p{n % 40}", 1, Decimal("12.50"), product_name=f"Item {n % 40}"),
            ),
        )
        for n in range(orders)
    ]
    for chunk in range(0, orders, 1000):
        receive_orders(store=store, records=records[chunk : chunk + 1000], now=start)
    return store, flow


if __name__ == "__main__":
    main()
