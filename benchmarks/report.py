"""Report benchmark: the full flow report (attribution and holdout included) of a flow
with 1,000,000 journeys and 3,000,000 messages, next to a plain COUNT(*) of its messages.

    .venv/bin/python benchmarks/report.py [--quick] [--enrollments N]
        [--postgres URL] [--format table|json]

Generates the large store of benchmarks/large_store.py (`--quick`: a twentieth of it)
in a fresh database: SQLite in a temporary AFTERSALE_HOME, or with `--postgres URL` a new
database on that server, dropped afterwards. Then it times `reports.selectors.
flow_report` (its reads run side by side, each on its own connection, as the dashboard
and the API call it) and `SELECT COUNT(*)` over the messages table in the same run: the
median of three runs each. `--format json` prints exactly {"report_seconds",
"count_seconds"}. Goal: the report under 2 s on both databases.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from large_store import NOW, analyze, generate_store
from throwaway_database import fresh_database

RUNS = 3
GOAL_SECONDS = 2.0


def main() -> None:
    """Parse the arguments, generate the store, time the report, print the result."""
    args = _arguments()
    enrollments = args.enrollments or (50_000 if args.quick else 1_000_000)
    with fresh_database(args.postgres):
        started = time.perf_counter()
        store = generate_store("large", customers=enrollments, messages=3 * enrollments)
        analyze()
        generated_s = time.perf_counter() - started
        timings = _time_report(store)
    if args.format == "json":
        print(json.dumps({k: round(timings[k], 4) for k in ("report_seconds", "count_seconds")}))
        return
    _print(timings, enrollments=enrollments, generated_s=generated_s)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 enrollments")
    parser.add_argument("--enrollments", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL to use")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    return parser.parse_args()


def _median(work: Callable[[], object]) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (this process's) of RUNS runs of `work`."""
    wall, cpu = [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _time_report(store: object) -> dict[str, float | str]:
    from django.db import connection

    from aftersale.flows.models import Flow
    from aftersale.reports.selectors import flow_report

    flow = Flow.objects.get(store=store, slug="post-purchase-upsell")
    report = flow_report(flow=flow, now=NOW)  # also warms the caches, as a page view does
    assert report.attributed_orders and report.holdout["customers"], "no attribution/holdout"

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM messaging_message")
            cursor.fetchone()

    report_s, report_cpu = _median(lambda: flow_report(flow=flow, now=NOW))
    count_s, _ = _median(count)
    return {
        "report_seconds": report_s,
        "report_cpu_seconds": report_cpu,
        "count_seconds": count_s,
        "database": connection.vendor,
        "attributed_revenue": f"{report.currency} {report.attributed_revenue:,.2f}",
        "incremental_revenue": f"{report.incremental_revenue}",
    }


def _print(timings: dict[str, float | str], *, enrollments: int, generated_s: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Flow report on {timings['database']} (median of {RUNS}; "
        f"generated in {generated_s:.0f} s)"
    )
    for column in ("journeys", "messages", "report", "COUNT(*)", "ratio"):
        table.add_column(column, justify="right")
    report_s, count_s = float(timings["report_seconds"]), float(timings["count_seconds"])
    table.add_row(
        f"{enrollments:,}",
        f"{3 * enrollments:,}",
        f"{report_s:.3f} s (CPU {float(timings['report_cpu_seconds']):.3f} s)",
        f"{count_s:.3f} s",
        f"{report_s / count_s:.0f}x" if count_s else "-",
    )
    console = Console()
    console.print(table)
    met = "met" if report_s < GOAL_SECONDS else "NOT met"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(
        f"goal: the report under {GOAL_SECONDS:g} s: {met} (load average {load} on "
        f"{os.cpu_count()} CPUs: wall-clock times grow with other work on the machine); "
        f"attributed {timings['attributed_revenue']}, incremental "
        f"{timings['incremental_revenue']}"
    )


if __name__ == "__main__":
    main()
