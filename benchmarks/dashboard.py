"""Dashboard benchmark: the flow report page and the automations page on a large store.

    .venv/bin/python benchmarks/dashboard.py [--quick] [--format table|json]
        [--enrollments N] [--explain]

Creates a fresh SQLite database in a temporary AFTERSALE_HOME and generates in it two
stores of benchmarks/large_store.py's shape:

- a demo-sized store: 2,469 customers, each in the post-purchase upsell flow, 5,061
  messages;
- a large store: 1,000,000 customers and enrollments, 3,000,000 messages (three per
  journey), a second purchase by one customer in ten, opens on two messages in five
  and clicks on one in ten (`--quick`: a twentieth of that).

Then it times, for each store, a GET of the flow report page through Django's test
Client (logged in as a member), the automations page (`dashboard:automations` when
that URL exists; else `flows.selectors.flow_summaries` and
`reports.selectors.flow_headlines`, which that page calls), and a plain
`SELECT COUNT(*)` over the messages table in the same run: the median of three runs
each. It prints a table; `--format json` prints exactly {"report_page_seconds",
"automations_page_seconds", "count_seconds"} for the large store. `--explain` also
prints SQLite's EXPLAIN QUERY PLAN of every query the report page makes.
Goal: the report page under 2 s on the large store.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from large_store import NOW, analyze, generate_store
from throwaway_database import setup_django

DEMO = {"customers": 2_469, "messages": 5_061}
RUNS = 3


def main() -> None:
    """Parse the arguments, generate both stores, time the pages, print the result."""
    args = _arguments()
    enrollments = args.enrollments or (50_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as temporary:
        home = args.home or temporary
        os.environ["AFTERSALE_HOME"] = home
        os.environ["AFTERSALE_DATABASE_URL"] = f"sqlite:///{home}/bench.sqlite3"
        setup_django()
        started = time.perf_counter()
        demo, large = _stores(enrollments)
        generated_s = time.perf_counter() - started
        results = [(name, store, _time_pages(store)) for name, store in (demo, large)]
        if args.explain:
            _explain(large[1])
    timings = results[-1][2]
    if args.format == "json":
        print(json.dumps({k: round(timings[k], 4) for k in _KEYS}))
        return
    _print_table(results, generated_s)


_KEYS = ("report_page_seconds", "automations_page_seconds", "count_seconds")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 enrollments")
    parser.add_argument("--enrollments", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--home",
        default="",
        help="keep the database in this AFTERSALE_HOME and reuse it on the next run "
        "(default: a temporary one)",
    )
    return parser.parse_args()


def _stores(enrollments: int) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The demo-sized and the large store: generated, or the ones a kept database has."""
    from aftersale.stores.models import Store

    if Store.objects.filter(slug="large").exists():
        return ("demo", Store.objects.get(slug="demo")), ("large", Store.objects.get(slug="large"))
    demo = generate_store("demo", customers=DEMO["customers"], messages=DEMO["messages"])
    large = generate_store("large", customers=enrollments, messages=3 * enrollments)
    analyze()
    return ("demo", demo), ("large", large)


def _median(work: Callable[[], object], cpu: list[float] | None = None) -> float:
    """Median wall-clock seconds of RUNS runs of `work`; its median CPU seconds (this
    process's, which other load on the machine does not inflate) appended to `cpu`."""
    times, cpu_times = [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - started_cpu)
    if cpu is not None:
        cpu.append(statistics.median(cpu_times))
    return statistics.median(times)


def _time_pages(store: Any) -> dict[str, float]:
    """Median seconds of the report page, the automations page (or its selectors) and
    COUNT(*) over the messages table."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from aftersale.flows.selectors import flow_summaries
    from aftersale.lib.clock import VirtualClock, use_clock
    from aftersale.reports.selectors import flow_headlines

    client = Client()
    client.force_login(User.objects.get(username=f"{store.slug}-owner"))
    report_url = reverse("dashboard:flow-report", args=[store.slug, "post-purchase-upsell"])
    try:
        automations_url: str | None = reverse("dashboard:automations", args=[store.slug])
    except NoReverseMatch:
        automations_url = None

    def get(url: str) -> None:
        answer = client.get(url)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url} answered {answer.status_code}")

    def automations() -> None:
        if automations_url:
            get(automations_url)
            return
        flows = [store.flows.get(slug=s.slug) for s in flow_summaries(store=store)]
        flow_headlines(flows=flows, now=now)

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM messaging_message")
            cursor.fetchone()

    now = NOW
    cpu: list[float] = []
    with use_clock(VirtualClock(now)):
        return {
            "report_page_seconds": _median(lambda: get(report_url), cpu),
            "automations_page_seconds": _median(automations, cpu),
            "automations_is_page": float(automations_url is not None),
            "count_seconds": _median(count),
            "report_page_cpu_seconds": cpu[0],
            "automations_page_cpu_seconds": cpu[1],
        }


def _explain(store: Any) -> None:
    """Print each query the report page makes with SQLite's plan for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from aftersale.lib.clock import VirtualClock, use_clock
    from aftersale.reports.selectors import flow_report

    flow = store.flows.get(slug="post-purchase-upsell")
    now = NOW
    with use_clock(VirtualClock(now)), CaptureQueriesContext(connection) as queries:
        flow_report(flow=flow, now=now)
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            started = time.perf_counter()
            cursor.execute(query["sql"])
            cursor.fetchall()
            took = time.perf_counter() - started
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plan = "\n    ".join(row[-1] for row in cursor.fetchall())
            print(f"{took:.3f} s  {query['sql'][:160]}\n    {plan}")


def _print_table(results: list[tuple[str, Any, dict[str, float]]], generated_s: float) -> None:
    from django.db import connection
    from rich.console import Console
    from rich.table import Table

    def rows_of(store: Any, table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE store_id = %s", [store.pk])
            return int(cursor.fetchone()[0])

    table = Table(title=f"Dashboard on SQLite (median of {RUNS}; generated in {generated_s:.0f} s)")
    for column in ("store", "enrollments", "messages", "report page", "automations", "COUNT(*)"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for name, store, timings in results:
        automations = f"{timings['automations_page_seconds']:.3f} s"
        if not timings["automations_is_page"]:
            automations += " (selectors)"
        table.add_row(
            name,
            f"{rows_of(store, 'flows_enrollment'):,}",
            f"{rows_of(store, 'messaging_message'):,}",
            f"{timings['report_page_seconds']:.3f} s "
            f"(CPU {timings['report_page_cpu_seconds']:.3f} s)",
            automations + f" (CPU {timings['automations_page_cpu_seconds']:.3f} s)",
            f"{timings['count_seconds']:.3f} s",
        )
    Console().print(table)
    report_s = results[-1][2]["report_page_seconds"]
    print(
        f"goal: report page under 2 s on the large store: {'met' if report_s < 2 else 'NOT met'} "
        f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} CPUs: wall-clock times grow with other work on the machine)"
    )


if __name__ == "__main__":
    main()
