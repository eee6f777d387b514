"""Dashboard benchmark: the flow report page and the automations page on a large store.

    .venv/bin/python benchmarks/dashboard.py [--quick] [--format table|json]
        [--enrollments N] [--explain]

Creates a fresh SQLite database in a temporary AFTERSALE_HOME, generates with set-based
INSERT ... SELECT over a number series (nothing is held in Python, so memory stays
bounded) two stores:

- a demo-sized store of the demo's shape: 2,469 customers, each in the post-purchase
  upsell flow, 5,061 messages;
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
import datetime as dt
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)
SPAN_DAYS = 180  # the journeys' entries are spread over this many days
DEMO = {"customers": 2_469, "messages": 5_061}
BATCH = 250_000  # rows per INSERT ... SELECT
RUNS = 3


def main() -> None:
    """Parse the arguments, generate both stores, time the pages, print the result."""
    args = _arguments()
    enrollments = args.enrollments or (50_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as temporary:
        home = args.home or temporary
        os.environ["AFTERSALE_HOME"] = home
        os.environ["AFTERSALE_DATABASE_URL"] = f"sqlite:///{home}/bench.sqlite3"
        _setup_django()
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


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "aftersale.settings"
    # The database lives only as long as the run: a throwaway key signs its links.
    os.environ.setdefault("AFTERSALE_SECRET_KEY", secrets.token_urlsafe(50))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


UPSELL = {
    "name": "Post-purchase upsell",
    "trigger": {"event": "first_purchase"},
    "exit_when": ["purchased_again"],
    "steps": [
        {"type": "delay", "hours": 1},
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 3},
        {"type": "email", "template": "offer"},
        {"type": "delay", "days": 4},
        {"type": "email", "template": "reminder"},
    ],
}
OTHER_FLOWS = ("cross-sell", "review-request", "win-back")


def _stores(enrollments: int) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The demo-sized and the large store: generated, or the ones a kept database has."""
    from aftersale.stores.models import Store

    if Store.objects.filter(slug="large").exists():
        return ("demo", Store.objects.get(slug="demo")), ("large", Store.objects.get(slug="large"))
    demo = _generate("demo", customers=DEMO["customers"], messages=DEMO["messages"])
    large = _generate("large", customers=enrollments, messages=3 * enrollments)
    _analyze()
    return demo, large


def _generate(slug: str, *, customers: int, messages: int) -> tuple[str, Any]:
    """A store `slug` with `customers` customers, each with a first order that enrolled
    them in the upsell flow, one in ten with a second order; `messages` emails of the
    journeys (step 1 to every journey, then step 3, then step 5), opens and clicks; and
    three more flows with nobody in them, for the automations page."""
    from django.contrib.auth.models import User

    from aftersale.flows.services import install_flow
    from aftersale.messaging.models import EmailTemplate
    from aftersale.stores.services import add_member, create_store

    store = create_store(name=f"{slug.title()} Shop", slug=slug, now=START)
    add_member(store=store, user=User.objects.create_user(username=f"{slug}-owner"))
    templates = {}
    for template in ("thank-you", "offer", "reminder"):
        templates[template] = EmailTemplate.objects.create(
            store=store,
            slug=template,
            name=template,
            kind="thank_you",
            subject="Hello",
            body_mjml="<mjml><mj-body></mj-body></mjml>",
            updated_at=START,
        ).pk
    flow = install_flow(store=store, slug="post-purchase-upsell", definition=UPSELL, now=START)
    for other in OTHER_FLOWS:
        install_flow(store=store, slug=other, definition={**UPSELL, "name": other}, now=START)
    ids = _Ids()
    rows = {
        "store": store.pk,
        "flow": flow.pk,
        "version": flow.versions.get().pk,
        "start": START.strftime("%Y-%m-%d %H:%M:%S"),
        "spacing": SPAN_DAYS * 86_400 / customers,  # seconds between two entries
        "customers": customers,
        "t1": templates["thank-you"],
        "t2": templates["offer"],
        "t3": templates["reminder"],
    }
    ids.customer = _next_id("customers_customer")
    _insert("customers_customer", customers, _CUSTOMER, rows, base=ids.customer)
    ids.order = _next_id("orders_order")
    _insert("orders_order", customers, _FIRST_ORDER, rows, base=ids.customer)
    _insert("orders_order", customers // 10, _SECOND_ORDER, rows, base=ids.customer)
    ids.enrollment = _next_id("flows_enrollment")
    _insert("flows_enrollment", customers, _ENROLLMENT, rows, base=ids.customer)
    ids.message = _next_id("messaging_message")
    rows.update(first_enrollment=ids.enrollment, first_customer=ids.customer)
    _insert("messaging_message", messages, _MESSAGE, rows, base=ids.customer)
    _insert("tracking_event", messages * 2 // 5, _OPEN, rows, base=ids.message)
    _insert("tracking_event", messages // 10, _CLICK, rows, base=ids.message)
    return slug, store


class _Ids:
    customer = order = enrollment = message = 0


# Each table's generated columns as SQL over the row number i and the parameters; a
# column not named keeps its model default. %(base)s is the first id the rows refer to.
_WHEN = (
    "strftime('%%Y-%%m-%%d %%H:%%M:%%S', %(start)s, "
    "'+' || CAST(i * %(spacing)s AS INTEGER) || ' seconds'"
)
_CUSTOMER = {
    "store_id": "%(store)s",
    "external_id": "'c' || i",
    "email": "'buyer' || i || '@example.com'",
    "accepts_marketing": "1",
    "created_at": _WHEN + ")",
}
_FIRST_ORDER = {
    "store_id": "%(store)s",
    "external_id": "'o' || i",
    "customer_id": "%(base)s + i",
    "status": "'paid'",
    "currency": "'USD'",
    "total": "20 + i % 80",
    "placed_at": _WHEN + ")",
}
# One customer in ten (i * 10) buys again two days after entering the flow.
_SECOND_ORDER = {
    **_FIRST_ORDER,
    "external_id": "'r' || i",
    "customer_id": "%(base)s + i * 10",
    "total": "35 + i % 50",
    "placed_at": _WHEN.replace("i *", "i * 10 *") + ", '+2 days')",
}
# Journey i: one in ten exited on their purchase two days in, seven in ten completed
# eight days in, the rest wait at the 3-day delay (step index 2) or the 4-day one (4).
_ENROLLMENT = {
    "store_id": "%(store)s",
    "flow_id": "%(flow)s",
    "version_id": "%(version)s",
    "customer_id": "%(base)s + i",
    "state": "CASE WHEN i % 10 = 0 THEN 'exited' WHEN i % 10 < 8 THEN 'completed' "
    "ELSE 'active' END",
    "step_index": "CASE WHEN i % 10 = 0 THEN 2 WHEN i % 10 < 8 THEN 6 WHEN i % 10 = 8 THEN 2 "
    "ELSE 4 END",
    "passed_steps": "CASE WHEN i % 10 = 0 THEN 3 WHEN i % 10 < 8 THEN 63 WHEN i % 10 = 8 THEN 3 "
    "ELSE 15 END",
    "exit_reason": "CASE WHEN i % 10 = 0 THEN 'purchased_again' ELSE '' END",
    "entered_at": _WHEN + ")",
    "ended_at": "CASE WHEN i % 10 = 0 THEN " + _WHEN + ", '+2 days') "
    "WHEN i % 10 < 8 THEN " + _WHEN + ", '+8 days') END",
    "due_at": "CASE WHEN i % 10 >= 8 THEN " + _WHEN + ", '+9 days') END",
}
# Message i goes to journey i mod N: the first N are step 1, the next N step 3, then 5.
_MESSAGE = {
    "store_id": "%(store)s",
    "customer_id": "%(base)s + i % %(customers)s",
    "flow_id": "%(flow)s",
    "enrollment_id": "%(first_enrollment)s + i % %(customers)s",
    "step_index": "1 + 2 * (i / %(customers)s)",
    "template_id": "CASE i / %(customers)s WHEN 0 THEN %(t1)s WHEN 1 THEN %(t2)s ELSE %(t3)s END",
    "campaign": "'post-purchase-upsell'",
    "idempotency_key": "'bench:' || %(store)s || ':' || i",
    "to_email": "'buyer' || (i % %(customers)s) || '@example.com'",
    "status": "CASE WHEN i % 50 = 0 THEN 'bounced' ELSE 'delivered' END",
    "queued_at": _WHEN.replace("i *", "(i % %(customers)s) *") + ")",
    "send_after": _WHEN.replace("i *", "(i % %(customers)s) *") + ")",
    "sent_at": _WHEN.replace("i *", "(i % %(customers)s) *") + ")",
    "delivered_at": _WHEN.replace("i *", "(i % %(customers)s) *") + ")",
    # Engagement's bits, as tracking marks them with the events below: read, clicked.
    "engagement": "CASE WHEN i % 5 < 2 THEN 1 ELSE 0 END + CASE WHEN i % 10 = 0 THEN 2 ELSE 0 END",
}
# Opens of two messages in five (5j/2 and 5j/2 + 1), clicks on one in ten.
_OPEN = {
    "store_id": "%(store)s",
    "customer_id": "%(first_customer)s + ((i / 2) * 5 + i % 2) % %(customers)s",
    "message_id": "%(base)s + (i / 2) * 5 + i % 2",
    "kind": "'opened'",
    "occurred_at": _WHEN + ")",
    "once_key": "'open'",
}
_CLICK = {
    **_OPEN,
    "customer_id": "%(first_customer)s + (i * 10) % %(customers)s",
    "message_id": "%(base)s + i * 10",
    "kind": "'clicked'",
    "url": "'https://shop.example.com/'",
    "once_key": "'click:0'",
}


def _insert(table: str, count: int, expressions: dict[str, str], params: dict, base: int) -> None:
    """INSERT `count` rows into `table`, BATCH rows per statement and transaction."""
    from django.apps import apps
    from django.db import connection, transaction

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {str(f.column): f.get_db_prep_value(f.get_default(), connection) for f in fields}
    columns = [str(f.column) for f in fields]
    values = ", ".join(expressions.get(c, f"%(default_{c})s") for c in columns)
    values = values.replace(" % ", " %% ")  # the modulo operator, not a parameter
    for low in range(0, count, BATCH):
        high = min(count, low + BATCH) - 1
        sql = (
            f"WITH RECURSIVE s(i) AS (SELECT {low} UNION ALL SELECT i + 1 FROM s WHERE i < {high}) "
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM s"
        )
        bound = {**params, "base": base, **{f"default_{c}": v for c, v in defaults.items()}}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, bound)


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


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

    now = START + dt.timedelta(days=SPAN_DAYS + 30)
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
    now = START + dt.timedelta(days=SPAN_DAYS + 30)
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
