"""Send benchmark: personalized emails per second next to raw SMTP.

    .venv/bin/python benchmarks/send.py [--quick] [--emails N] [--database-url URL]
        [--format text|json] [--profile]

Creates a fresh database (as benchmarks/scheduler.py does), inserts N customers, each
with an order, a coupon and a queued cross-sell email recommending 4 products, and starts
Postfix's smtp-sink on 127.0.0.1 (scripts/smtp-sink installs it when missing; without
it, an aiosmtpd sink in its own process, which is slower and says so). Then it times, in
the same run and against the same sink:

- raw: one pre-built email (the size of a rendered one) sent N times with smtplib over
  one connection, a round trip per command;
- ceiling: the same pre-built email written N times pipelined (RFC 2920) over one
  connection, as the transport writes, with no other work: what the relay takes at most;
- Aftersale: passes of messaging.delivery.sending.send_queued_messages over the SMTP transport
  (claim, render, MIME, pipelined SMTP, status updates) until the outbox is empty.

It checks that every email ended delivered, then prints the rates and the ratios of the
send to raw and to the ceiling (goal: at least 0.5 of the ceiling); `--format json` prints
exactly {"emails_per_s", "raw_per_s", "ceiling_per_s", "ratio", "ceiling_ratio"}. `--profile` runs
the send under cProfile and prints where the time went (by cumulative time, or by the
pstats key in PROFILE_SORT, e.g. PROFILE_SORT=tottime).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import smtplib
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from smtp_sink import smtp_sink  # noqa: E402
from throwaway_database import fresh_database  # noqa: E402

PRODUCTS = 60
CARDS = 4
PROFILE_LINES = int(os.environ.get("PROFILE_LINES", "30"))


def main() -> None:
    """Parse the arguments, run the benchmark on a fresh database, print the result."""
    args = _arguments()
    if args.memory_sender:
        _memory_sender(port=args.memory_sender, checkpoints=args.checkpoints)
        return
    if args.memory:
        _memory_main(args)
        return
    count = args.emails or (2_000 if args.quick else 20_000)
    with fresh_database(args.database_url), smtp_sink() as (port, sink, sink_pid):
        result = run(count=count, port=port, profile=args.profile, sink_pid=sink_pid)
    if args.format == "json":
        keys = ("emails_per_s", "raw_per_s", "ceiling_per_s", "ratio", "ceiling_ratio")
        print(json.dumps({k: round(result[k], 3) for k in keys}))
        return
    print(
        f"{count:,} emails on {result['vendor']} to {sink} (load {_load()}):\n"
        f"  aftersale  {result['send_s']:8.2f} s  {result['emails_per_s']:>10,.0f} /s"
        "  (claim + render + MIME + SMTP + status)\n"
        f"  raw        {result['raw_s']:8.2f} s  {result['raw_per_s']:>10,.0f} /s"
        "  (smtplib, one pre-built email)\n"
        f"  ceiling    {result['ceiling_s']:8.2f} s  {result['ceiling_per_s']:>10,.0f} /s"
        "  (the same email pipelined, nothing else)\n"
        f"  ratio      {result['ratio']:.2f} of raw; {result['ceiling_ratio']:.2f} of the ceiling "
        "(goal 0.50)\n"
        f"  of which rendering alone: {result['render_per_s']:,.0f} /s "
        f"({result['render_share']:.0%} of the send time)\n"
        f"  CPU per email during the send: {_cpu_line(result['cpu_us'])}"
    )


def _cpu_line(cpu_us: dict[str, float | None]) -> str:
    return ", ".join(
        f"{name} {'?' if us is None else f'{us:,.0f} us'}" for name, us in cpu_us.items()
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 emails")
    parser.add_argument("--emails", type=int, default=0, help="default 20,000")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--profile", action="store_true", help="cProfile the send")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="the sender's peak RSS after 100,000 and 1,000,000 sends (--quick: 10,000 "
        "and 100,000), instead of the rates",
    )
    # Internal: the sending process of --memory (the port of the sink).
    parser.add_argument("--memory-sender", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoints", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


def _memory_main(args: argparse.Namespace) -> None:
    """--memory: populate the largest size once, then run a sending process (passes of
    worker.loop.send_due, as a Celery send worker or `aftersale worker` runs them) and
    read its peak RSS (VmHWM) once it has sent each size."""
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    if args.emails:
        sizes = (args.emails // 10, args.emails)
    with fresh_database(args.database_url), smtp_sink() as (port, sink, _):
        from django.db import connection

        from aftersale.lib.clock import now as clock_now

        started = time.perf_counter()
        _populate(count=sizes[-1], now=clock_now())
        vendor = connection.vendor
        connection.close()
        print(
            f"populated {sizes[-1]:,} queued emails on {vendor} in "
            f"{time.perf_counter() - started:.0f} s (load {_load()})",
            file=sys.stderr,
        )
        points = _memory_points(port=port, sizes=sizes)
        _check_delivered(sizes[-1])
    peaks = [points[size]["peak_kb"] / 1024 for size in sizes]
    growth = peaks[1] / peaks[0] - 1
    if args.format == "json":
        print(json.dumps({"sends": list(sizes), "peak_rss_mb": [round(p, 1) for p in peaks],
                          "growth": round(growth, 4)}))  # fmt: skip
        return
    print(f"sender's peak RSS on {vendor} to {sink} (load {_load()}):")
    for size, peak in zip(sizes, peaks, strict=True):
        rate = size / points[size]["seconds"]
        print(f"  after {size:>9,} sends  {peak:8.1f} MB  ({rate:,.0f} emails/s so far)")
    print(f"  growth {growth:+.1%} (goal: within 10%)")


def _memory_points(*, port: int, sizes: tuple[int, ...]) -> dict[int, dict[str, float]]:
    """Run the sending process against the sink on `port` until the outbox is empty;
    what it reported at each of `sizes` sends (the first report at or past each)."""
    env = os.environ | {"AFTERSALE_SMTP_HOST": "127.0.0.1", "AFTERSALE_SMTP_PORT": str(port)}
    command = [sys.executable, __file__, "--memory-sender", str(port),
               "--checkpoints", ",".join(map(str, sizes))]  # fmt: skip
    points: dict[int, dict[str, float]] = {}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as sender:
        assert sender.stdout is not None
        for line in sender.stdout:
            point = json.loads(line)
            points[int(point["size"])] = point
            print(f"  {json.dumps(point)} (load {_load()})", file=sys.stderr)
    if sender.returncode != 0 or set(points) != set(sizes):
        raise SystemExit(f"the sending process failed (exit {sender.returncode})")
    return points


def _memory_sender(*, port: int, checkpoints: str) -> None:
    """The sending process of --memory: passes of send_due over the configured SMTP
    transport (the sink) until a pass finds nothing, printing a JSON line with its peak
    and current RSS once it has sent each checkpoint's number of emails."""
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "aftersale.settings"
    django.setup()
    from django.conf import settings

    from aftersale.worker.loop import SendingPause, WorkerSettings, freeze_warm_objects, send_due

    config = WorkerSettings(worker_id="memory", batch_size=settings.SCHEDULER_BATCH_SIZE)
    pause, sent, passes = SendingPause(), 0, 0
    sizes = [int(size) for size in checkpoints.split(",")]
    started = time.perf_counter()
    while True:
        sends = send_due(config=config, pause=pause)
        if sends.fault:
            raise SystemExit(f"the sink could not be used: {sends.fault}")
        passes += 1
        if passes == 1:
            freeze_warm_objects()  # as the worker does after its first pass
        sent += sends.total
        while sizes and sent >= sizes[0]:
            status = _proc_status()
            point = {
                "size": sizes.pop(0),
                "sent": sent,
                "peak_kb": status["VmHWM"],
                "rss_kb": status["VmRSS"],
                "seconds": time.perf_counter() - started,
            }
            print(json.dumps(point), flush=True)
        if not sends.total:
            return


def _proc_status() -> dict[str, int]:
    """This process's memory figures from /proc/self/status, in kB."""
    figures = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            figures[name] = int(value.split()[0])
    return figures


def run(*, count: int, port: int, profile: bool, sink_pid: int = 0) -> dict[str, Any]:
    """Populate `count` queued emails, time raw smtplib and the sender against the sink
    on `port`, and return the timings and rates, and the CPU time per email the send
    took in this process, the database server's backend and the sink (`sink_pid`)."""
    from django.db import connection

    from aftersale.lib.clock import now as clock_now
    from aftersale.messaging.delivery.transports.smtp import SmtpTransport
    from aftersale.worker.loop import freeze_warm_objects

    now = clock_now()
    _populate(count=count, now=now)
    sample, render_s = _render_sample(now=now)
    raw_s = _timed(lambda: _raw(port=port, content=sample, count=count))
    ceiling_s = _timed(lambda: _ceiling(port=port, content=sample, count=count))
    transport = SmtpTransport(host="127.0.0.1", port=port, timeout=30)
    profiler = cProfile.Profile() if profile else None
    # `aftersale worker` freezes what it has loaded after its first pass; here the
    # rendering sample has warmed the same caches (templates, shapes, formats).
    freeze_warm_objects()
    cpu = _CpuTimes(sink_pid=sink_pid)
    send_s = _timed(lambda: _send_all(now=now, transport=transport, profiler=profiler))
    transport.close()
    cpu_us = cpu.per_email_us(count)
    _check_delivered(count)
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(
            os.environ.get("PROFILE_SORT", "cumulative")
        ).print_stats(PROFILE_LINES)
    return {
        "vendor": connection.vendor,
        "send_s": send_s,
        "raw_s": raw_s,
        "emails_per_s": count / send_s,
        "raw_per_s": count / raw_s,
        "ratio": raw_s / send_s,
        "ceiling_s": ceiling_s,
        "ceiling_per_s": count / ceiling_s,
        "ceiling_ratio": ceiling_s / send_s,
        "render_per_s": 1 / render_s,
        "render_share": render_s * count / send_s,
        "cpu_us": cpu_us,
    }


class _CpuTimes:
    """CPU seconds used since creation by this process, the database's backend for
    Django's connection (PostgreSQL on this machine) and the sink: what a send costs,
    whatever else the machine is doing (its wall time is not)."""

    def __init__(self, *, sink_pid: int) -> None:
        from django.db import connection

        backend = 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend = int(cursor.fetchone()[0])
        self.pids = {"database": backend, "sink": sink_pid}
        self.started = self._now()

    def _now(self) -> dict[str, float | None]:
        return {"sender": time.process_time()} | {
            name: _process_cpu(pid) for name, pid in self.pids.items()
        }

    def per_email_us(self, count: int) -> dict[str, float | None]:
        """Microseconds of CPU per email since creation, by process (None: unknown)."""
        ended = self._now()
        return {
            name: None if start is None or ended[name] is None else
            (ended[name] - start) / count * 1e6  # type: ignore[operator]
            for name, start in self.started.items()
        }  # fmt: skip


def _process_cpu(pid: int) -> float | None:
    """User and system CPU seconds of process `pid` so far (None: not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _populate(*, count: int, now: dt.datetime, chunk: int = 50_000) -> None:
    """A store with the template library, products, and `count` customers, each with a
    paid order of two products, an enrollment in the post-purchase flow, a 15% coupon
    and a queued cross-sell email recommending 4 products; written `chunk` customers at
    a time, so a million take no more memory than fifty thousand."""
    from aftersale.catalog.models import Product
    from aftersale.coupons.models import CouponProgram
    from aftersale.flows.models import Flow, FlowVersion
    from aftersale.messaging.rendering.template_library import install_default_templates
    from aftersale.stores.services import create_store

    store = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Bench Shop", slug="bench", now=now
    )
    template = next(
        t for t in install_default_templates(store=store, now=now) if t.slug == "cross-sell-offer"
    )
    products = Product.objects.bulk_create(
        Product(
            store=store,
            external_id=f"p{i}",
            name=f"Organic product number {i}",
            price=Decimal("2.49") + i,
            stock=10,
            image_url=f"https://cdn.example.com/p{i}.jpg",
            url=f"https://shop.example.com/p/{i}",
        )
        for i in range(PRODUCTS)
    )
    definition = json.loads(
        (ROOT / "aftersale/flows/library/post-purchase-upsell.json").read_text()
    )
    flow = Flow.objects.create(
        store=store, slug="post-purchase-upsell", name="Upsell", status="live", created_at=now
    )
    version = FlowVersion.objects.create(
        store=store, flow=flow, number=1, definition=definition, created_at=now
    )
    program = CouponProgram.objects.create(
        store=store, slug="thanks", kind="percent", amount=Decimal("15"), valid_days=14
    )
    shared = {"store": store, "template": template, "products": products, "flow": flow,
              "version": version, "program": program}  # fmt: skip
    base = min(count, chunk)
    _populate_customers(range(base), now=now, **shared)
    copies = count // base
    for copy in range(1, copies):
        _copy_customers(base=base, copy=copy)
    if count > copies * base:
        _populate_customers(range(copies * base, count), now=now, **shared)


# The tables of _populate_customers, each with the columns a copy of its first rows
# changes: ids and the ids they point to moved past the rows before ({off}: `copy` times
# the customers, {off2}: the line items), and the values that must stay unique marked
# with the copy's number ({k}).
_COPIED = {
    "customers_customer": {"id": "id + {off}", "external_id": "external_id || '-{k}'",
                           "email": "'{k}' || email"},
    "orders_order": {"id": "id + {off}", "customer_id": "customer_id + {off}",
                     "external_id": "external_id || '-{k}'"},
    "orders_lineitem": {"id": "id + {off2}", "order_id": "order_id + {off}"},
    "flows_enrollment": {"id": "id + {off}", "customer_id": "customer_id + {off}",
                         "trigger_order_id": "trigger_order_id + {off}"},
    "coupons_coupon": {"id": "id + {off}", "customer_id": "customer_id + {off}",
                       "code": "code || '-{k}'"},
    "messaging_message": {"id": "id + {off}", "customer_id": "customer_id + {off}",
                          "enrollment_id": "enrollment_id + {off}",
                          "coupon_id": "coupon_id + {off}",
                          "idempotency_key": "idempotency_key || '-{k}'",
                          "to_email": "'{k}' || to_email"},
}  # fmt: skip


def _copy_customers(*, base: int, copy: int) -> None:
    """Customers `copy * base` on as copies of the first `base` (with their order, line
    items, enrollment, coupon and queued email), by INSERT ... SELECT: a million are
    written in seconds where the ORM takes many minutes. Needs the fresh database's
    ids 1..n in each table (checked)."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    models = {model._meta.db_table: model for model in apps.get_models()}
    with connection.cursor() as cursor:
        for table, changed in _COPIED.items():
            rows = 2 * base if table == "orders_lineitem" else base
            cursor.execute(f"SELECT MIN(id), MAX(id) FROM {table} WHERE id <= %s", [rows])
            if tuple(cursor.fetchone()) != (1, rows):
                raise SystemExit(f"{table}: ids not 1..{rows}, cannot copy")
            columns = [field.column for field in models[table]._meta.concrete_fields]
            values = {"off": copy * base, "off2": copy * 2 * base, "k": copy}
            chosen = [changed[c].format(**values) if c in changed else c for c in columns]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(chosen)} FROM {table} WHERE id <= {rows}"
            )
        for statement in connection.ops.sequence_reset_sql(
            no_style(), [models[table] for table in _COPIED]
        ):
            cursor.execute(statement)


def _populate_customers(
    numbers: range,
    *,
    now: dt.datetime,
    store: Any,
    template: Any,
    products: list[Any],
    flow: Any,
    version: Any,
    program: Any,
) -> None:
    """The customers numbered `numbers`, each with an order, enrollment, coupon and a
    queued email (see _populate)."""
    from aftersale.coupons.models import Coupon
    from aftersale.customers.models import Customer
    from aftersale.flows.models import Enrollment
    from aftersale.messaging.models import Message
    from aftersale.orders.models import LineItem, Order

    customers = Customer.objects.bulk_create(
        Customer(
            store=store,
            external_id=f"c{i}",
            email=f"buyer{i}@example.com",
            first_name="Ada",
            created_at=now,
        )
        for i in numbers
    )
    orders = Order.objects.bulk_create(
        Order(
            store=store,
            customer=customer,
            external_id=f"#{i}",
            status="paid",
            placed_at=now,
            total=products[0].price + products[1].price,
        )
        for i, customer in zip(numbers, customers, strict=True)
    )
    LineItem.objects.bulk_create(
        LineItem(
            store=store,
            order=order,
            product=product,
            quantity=1,
            unit_price=product.price,
            total=product.price,
        )
        for order in orders
        for product in products[:2]
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(
            store=store,
            flow=flow,
            version=version,
            customer=customer,
            trigger_order=order,
            entered_at=now,
        )
        for customer, order in zip(customers, orders, strict=True)
    )
    coupons = Coupon.objects.bulk_create(
        Coupon(
            store=store,
            program=program,
            customer=customer,
            code=f"THANKS-{i:06d}",
            issued_at=now,
            expires_at=now + dt.timedelta(days=14),
        )
        for i, customer in zip(numbers, customers, strict=True)
    )
    Message.objects.bulk_create(
        Message(
            store=store,
            customer=customer,
            template=template,
            flow=flow,
            enrollment=enrollment,
            step_index=3,
            idempotency_key=f"bench-{i}",
            to_email=customer.email,
            recommendations=[
                {"product_id": products[2 + (i + k) % (PRODUCTS - 2)].pk, "reason": "Goes with"}
                for k in range(CARDS)
            ],
            coupon=coupon,
            queued_at=now,
            send_after=now,
        )
        for i, customer, enrollment, coupon in zip(
            numbers, customers, enrollments, coupons, strict=True
        )
    )


def _render_sample(*, now: dt.datetime, warm: int = 100, size: int = 500) -> tuple[bytes, float]:
    """One real email as the raw run sends it, and the seconds rendering takes per email
    as the send path renders (contexts read per batch, see facts_for_messages, with the
    shapes' compiled forms already made): timed over `size` messages after `warm`
    others, read without claiming them."""
    from aftersale.messaging.delivery.sending import SEND_CHUNK, outgoing_email
    from aftersale.messaging.delivery.transports.smtp import SmtpTransport
    from aftersale.messaging.models import Message
    from aftersale.messaging.outbox.selectors import for_rendering
    from aftersale.messaging.rendering.context import facts_for_messages
    from aftersale.messaging.rendering.render import render_message

    messages = list(for_rendering(Message.objects.order_by("id")[: warm + size]))
    warmed = _render_batches(messages[:warm], now=now, chunk=SEND_CHUNK, facts=facts_for_messages)
    timed = messages[warm:] or messages
    started = time.perf_counter()
    _render_batches(timed, now=now, chunk=SEND_CHUNK, facts=facts_for_messages)
    per_email = (time.perf_counter() - started) / len(timed)
    sample = warmed[0] if warmed else render_message(message=messages[0], now=now)
    email = outgoing_email(message=messages[0], rendered=sample, now=now)
    transport = SmtpTransport(host="127.0.0.1", port=0)
    return transport.build(email).data, per_email


def _render_batches(messages: list[Any], *, now: dt.datetime, chunk: int, facts: Any) -> list[Any]:
    """`messages` rendered as send_queued_messages renders them: facts per chunk."""
    from aftersale.messaging.rendering.render import render_message

    rendered = []
    for start in range(0, len(messages), chunk):
        batch = messages[start : start + chunk]
        batch_facts = facts(batch)
        rendered += [render_message(message=m, now=now, facts=batch_facts[m.pk]) for m in batch]
    return rendered


def _raw(*, port: int, content: bytes, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            smtp.sendmail("hello@shop.example.com", [f"buyer{i}@example.com"], content)


def _ceiling(*, port: int, content: bytes, count: int) -> None:
    """`content` sent `count` times over one connection as fast as the relay takes it:
    pipelined as the transport does (each write the previous email's content and end of
    data with the next email's MAIL, RCPT and DATA), every reply checked, nothing else."""

    def envelope(i: int) -> bytes:
        return (
            b"MAIL FROM:<hello@shop.example.com>\r\n"
            + f"RCPT TO:<buyer{i}@example.com>\r\n".encode()
            + b"DATA\r\n"
        )

    with socket.create_connection(("127.0.0.1", port)) as sock:
        replies = _Replies(sock)
        replies.take(1)  # the greeting
        sock.sendall(b"EHLO bench.example.com\r\n")
        if "PIPELINING" not in replies.take(1)[0]:
            raise SystemExit("the sink does not offer PIPELINING: no ceiling to measure")
        sock.sendall(envelope(0))
        replies.take(3)
        ending = content if content.endswith(b"\r\n") else content + b"\r\n"
        for i in range(1, count):
            sock.sendall(ending + b".\r\n" + envelope(i))
            replies.take(4)
        sock.sendall(ending + b".\r\nQUIT\r\n")
        replies.take(2)


class _Replies:
    """The SMTP replies read off a socket, whole (a reply may span lines and reads)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def take(self, n: int) -> list[str]:
        """The next `n` replies' text; SystemExit on one that is not 2xx or 354."""
        replies: list[str] = []
        text = ""
        while len(replies) < n:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise SystemExit("the sink closed the connection")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text += line.decode() + "\n"
            if line[3:4] != b"-":  # the last line of a reply
                if not (line.startswith(b"2") or line.startswith(b"354")):
                    raise SystemExit(f"the sink refused: {line.decode()}")
                replies.append(text)
                text = ""
        return replies


def _send_all(*, now: dt.datetime, transport: Any, profiler: cProfile.Profile | None) -> None:
    from aftersale.messaging.delivery.sending import send_queued_messages

    if profiler is not None:
        profiler.enable()
    while send_queued_messages(now=now, limit=500, connection=transport, worker_id="bench").total:
        pass
    if profiler is not None:
        profiler.disable()


def _check_delivered(count: int) -> None:
    from aftersale.messaging.models import Message, MessageStatus

    delivered = Message.objects.filter(status=MessageStatus.DELIVERED).count()
    if delivered != count:
        raise SystemExit(f"only {delivered} of {count} emails were delivered")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
