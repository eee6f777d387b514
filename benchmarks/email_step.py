"""Email step benchmark: N journeys due at their email step, each stepped onto its email.

    .venv/bin/python benchmarks/email_step.py [--quick] [--journeys N]
        [--database-url postgresql://...] [--path bulk|per-enrollment]
        [--flow thank-you|coupon|checkout|reminder] [--profile] [--format text|json]

Creates a fresh database (SQLite in a temporary AFTERSALE_HOME, or with --database-url a
new database on that PostgreSQL server, dropped afterwards), populates N customers with
a paid order each, enrolled through the real services in benchmarks/scale.py's flow
[delay 1 hour, thank-you email], moves every journey past its delay (the bulk delay
mover) and then times only the email step: scheduler passes
(flows.scheduler.run_due_enrollments) until none is left due, which queue one outbox row
per journey. `--path per-enrollment` turns the set-based email step off
(flows.email_batch) so that every journey goes through claim_due and advance.
`--flow coupon` gives the email a coupon (a new unique code of the flow's program cut
for each journey, as a merchant's offer flow does); `--flow checkout` starts the journeys
from abandoned checkouts instead of orders (an abandoned-checkout flow with a minimum
total, exiting on the checkout's completion), enrolled by the timed-occasions pass.
`--flow reminder` times the main flow's third email, the reminder of a coupon
(`coupon: remind`, `skip_if: coupon_redeemed`): the journeys first get their offer with
a code (untimed passes), wait a day, and then only the reminders are timed, each
looking up its customer's latest code of the flow and the products of its offer.

It counts the SQL statements the passes sent and the CPU they took: this process's, and
on a PostgreSQL server on this machine its backend's (psutil), each per journey.
`--profile` prints cProfile's 25 most expensive functions. `--format json` prints
{"journeys", "path", "flow", "vendor", "journeys_per_s", "statements_per_journey",
"cpu_per_journey_us", "database_cpu_per_journey_us"}.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale import SCALE_FLOW  # the same flow as the scale benchmark's
from throwaway_database import fresh_database


def main() -> None:
    """Parse the arguments, run the benchmark on a fresh database, print the result."""
    args = _arguments()
    journeys = args.journeys or (2_000 if args.quick else 20_000)
    with fresh_database(args.database_url):
        result = run(journeys=journeys, path=args.path, flow=args.flow, profile=args.profile)
    if args.format == "json":
        print(json.dumps({k: result[k] for k in _JSON_KEYS}))
        return
    database = result["database_cpu_per_journey_us"]
    print(
        f"{journeys:,} journeys onto their {args.flow} email on {result['vendor']} "
        f"({args.path} path, "
        f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}):\n"
        f"  {result['journeys_per_s']:10,.0f} journeys/s\n"
        f"  {result['statements_per_journey']:10.2f} SQL statements per journey\n"
        f"  {result['cpu_per_journey_us']:10,.0f} µs CPU per journey (this process)"
        + (f"\n  {database:10,.0f} µs CPU per journey (database backend)" if database else "")
    )


_JSON_KEYS = (
    "journeys",
    "path",
    "flow",
    "vendor",
    "journeys_per_s",
    "statements_per_journey",
    "cpu_per_journey_us",
    "database_cpu_per_journey_us",
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 journeys")
    parser.add_argument("--journeys", type=int, default=0, help="default 20,000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--path", choices=("bulk", "per-enrollment"), default="bulk")
    parser.add_argument("--flow", choices=tuple(FLOWS), default="thank-you")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


# scale.py's flow, and the same with a coupon offered in its email.
FLOWS: dict[str, dict[str, Any]] = {
    "thank-you": SCALE_FLOW,
    "coupon": {
        **SCALE_FLOW,
        "coupon": {"kind": "percent", "amount": "10", "valid_days": 14},
        "steps": [
            SCALE_FLOW["steps"][0],
            {**SCALE_FLOW["steps"][1], "coupon": "issue"},
        ],
    },
    "reminder": {
        **SCALE_FLOW,
        "coupon": {"kind": "percent", "amount": "15", "valid_days": 14},
        "steps": [
            SCALE_FLOW["steps"][0],
            {"type": "email", "template": "cross-sell-offer", "coupon": "issue"},
            {"type": "delay", "days": 1},
            {
                "type": "email",
                "template": "offer-reminder",
                "coupon": "remind",
                "skip_if": ["coupon_redeemed"],
            },
        ],
    },
    "checkout": {
        **SCALE_FLOW,
        "trigger": {"event": "checkout_abandoned", "abandoned_hours": 1, "min_order_total": "10"},
        "exit_when": ["checkout_completed", "purchased_again"],
        "steps": [{"type": "email", "template": "thank-you"}],
    },
}


def _populate_checkouts(count: int) -> None:
    """`count` customers, each with a checkout abandoned an hour ago, enrolled in the
    checkout flow (installed by populate) by the timed-occasions pass."""
    import datetime as dt

    from aftersale.customers.models import Customer
    from aftersale.flows.services import enroll_timed_occasions
    from aftersale.lib.clock import now as clock_now
    from aftersale.orders.models import Checkout
    from aftersale.stores.models import Store

    now = clock_now()
    store = Store.objects.get(slug="scale")
    started = now - dt.timedelta(minutes=61)
    customers = Customer.objects.bulk_create(
        Customer(
            store=store,
            external_id=f"c{i}",
            email=f"buyer{i}@example.com",
            first_name=f"Buyer{i}",
            created_at=started,
        )
        for i in range(count)
    )
    Checkout.objects.bulk_create(
        Checkout(store=store, external_id=f"k{c.pk}", customer=c, started_at=started, total="25")
        for c in customers
    )
    enroll_timed_occasions(now=now, store=store)


def run(*, journeys: int, path: str, flow: str = "thank-you", profile: bool) -> dict[str, Any]:
    """Populate `journeys` journeys, move them onto their email step, then time the
    email step alone; return what was measured."""
    from django.db import connection

    from aftersale.coupons.models import Coupon
    from aftersale.flows import email_batch
    from aftersale.flows.batch import advance_delays_in_bulk
    from aftersale.flows.models import Enrollment, EnrollmentState
    from aftersale.flows.scheduler import run_due_enrollments
    from aftersale.lib.clock import now as clock_now
    from aftersale.messaging.models import Message, MessageStatus
    from aftersale.worker.tests.crash_data import populate

    populate(count=0 if flow == "checkout" else journeys, definition=FLOWS[flow], slug="scale")
    if flow == "checkout":
        _populate_checkouts(journeys)
    moment = clock_now() + dt.timedelta(hours=2)
    advance_delays_in_bulk(now=moment)
    if flow == "reminder":  # the offers with their codes, untimed; a day later the reminders
        while run_due_enrollments(now=moment, limit=500, worker_id="bench").claimed:
            pass
        moment += dt.timedelta(days=1)
        advance_delays_in_bulk(now=moment)
    if path == "per-enrollment":
        email_batch.ENABLED = False
    backend = _backend()
    profiler = cProfile.Profile() if profile else None
    cpu_before, backend_before = time.process_time(), _cpu(backend)
    started = time.perf_counter()
    statements = _Counter()
    with connection.execute_wrapper(statements):
        if profiler:
            profiler.enable()
        while run_due_enrollments(now=moment, limit=500, worker_id="bench").claimed:
            pass
        if profiler:
            profiler.disable()
    elapsed = time.perf_counter() - started
    cpu, backend_cpu = time.process_time() - cpu_before, _cpu(backend) - backend_before
    emails = 2 if flow == "reminder" else 1  # a reminder's offer is queued too
    queued = Message.objects.filter(status=MessageStatus.QUEUED).count()
    left = Enrollment.objects.filter(state=EnrollmentState.ACTIVE).count()
    if queued != emails * journeys or left:
        raise SystemExit(f"{queued} emails queued and {left} journeys left of {journeys}")
    codes = Message.objects.filter(coupon__isnull=False).count()
    with_code = {"coupon": journeys, "reminder": 2 * journeys}.get(flow, 0)
    if codes != with_code or Coupon.objects.count() != min(codes, journeys):
        raise SystemExit(f"{codes} emails with a code, {Coupon.objects.count()} codes")
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return {
        "journeys": journeys,
        "path": path,
        "flow": flow,
        "vendor": connection.vendor,
        "journeys_per_s": journeys / elapsed,
        "statements_per_journey": statements.count / journeys,
        "cpu_per_journey_us": cpu / journeys * 1e6,
        "database_cpu_per_journey_us": backend_cpu / journeys * 1e6 if backend else 0.0,
    }


class _Counter:
    """An execute wrapper counting the statements sent."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def _backend() -> Any:
    """This connection's PostgreSQL backend process (psutil), None on SQLite."""
    import psutil
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return psutil.Process(int(cursor.fetchone()[0]))


def _cpu(process: Any) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


if __name__ == "__main__":
    main()
