"""Load test of `POST /api/v1/orders` behind gunicorn, on 127.0.0.1 only.

    .venv/bin/python benchmarks/ingest_load.py [--quick] [--seconds S] [--clients C]
        [--workers W] [--database-url postgresql://...] [--format text|json]

Makes a fresh installation (SQLite in a temporary AFTERSALE_HOME by default; with
--database-url, a new database on that PostgreSQL server, dropped afterwards) with one
store, its API key and the post-purchase upsell flow live (so every order also enrolls its
buyer, as in production), starts gunicorn on a free port, then, for the same duration each:

- the baseline: C clients asking `GET /api/v1/orders/{unknown}` (key check, routing and
  a 404 read: the request cost without the write);
- the load: C clients posting orders of 1 to 5 lines, one in twenty a repeat of an order
  that client already posted (the platforms' webhooks retry: it must change nothing).

Every client keeps one HTTP/1.1 connection open. Afterwards it counts the orders stored:
none lost (every id answered 201 or 200 is stored), none duplicated (one row per id).
`--format json` prints exactly {"orders_per_second", "p99_seconds",
"baseline_requests_per_second", "ratio", "orders_sent", "lost", "duplicated",
"errors"}; ratio is orders/s over the baseline's requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throwaway_database import postgres_database

ROOT = Path(__file__).resolve().parent.parent
STORE = "bench"
LIMIT_SECONDS = 60.0  # the bound on the load, whatever is asked


@dataclass
class Tally:
    """What one client saw: latencies of answered requests, ids stored, failures."""

    latencies: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def main() -> None:
    """Parse the arguments, run both phases against gunicorn, check the rows, print."""
    args = _arguments()
    seconds = min(args.seconds or (10.0 if args.quick else 30.0), LIMIT_SECONDS)
    with _installation(args.database_url) as (env, key):
        with _gunicorn(env, workers=args.workers) as port:
            baseline = _phase(port, key, clients=args.clients, seconds=seconds, post=False)
            load = _phase(port, key, clients=args.clients, seconds=seconds, post=True)
        stored = json.loads(_django(env, _STORED_IDS))
    accepted = set().union(*(t.accepted for t in load))
    result = _result(baseline, load, seconds, accepted, stored)
    if args.format == "json":
        print(json.dumps(result))
        return
    _print(result, args, seconds)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s a phase (default 30 s)")
    parser.add_argument("--seconds", type=float, default=0.0, help="a phase, at most 60")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


@contextmanager
def _installation(server_url: str) -> Iterator[tuple[dict[str, str], str]]:
    """A migrated installation with the store, its live flow and an API key: the
    environment gunicorn and the checks run with, and the raw key."""
    with tempfile.TemporaryDirectory(prefix="aftersale-load-") as home:
        env = {
            **os.environ,
            "AFTERSALE_HOME": home,
            "AFTERSALE_SECRET_KEY": secrets.token_urlsafe(50),
            # The load must not wait on a relay: nothing is sent during the test.
            "AFTERSALE_SMTP_HOST": "127.0.0.1",
        }
        with _database_url(server_url, home) as url:
            env["AFTERSALE_DATABASE_URL"] = url
            key = _django(env, _SETUP).strip().splitlines()[-1]
            yield env, key


@contextmanager
def _database_url(server_url: str, home: str) -> Iterator[str]:
    if not server_url:
        yield f"sqlite:///{home}/load.sqlite3"
        return
    with postgres_database(server_url, prefix="aftersale_load") as url:
        yield url


_SETUP = f"""
from django.core.management import call_command
from aftersale.flows.services import install_library_flow
from aftersale.lib import clock
from aftersale.stores.services import create_api_key, create_store

call_command("migrate", verbosity=0)
store = create_store(name="Bench Shop", slug="{STORE}", now=clock.now())
install_library_flow(store=store, slug="post-purchase-upsell", now=clock.now())
print(create_api_key(store=store, name="load", now=clock.now())[1])
"""

_STORED_IDS = f"""
import json
from aftersale.orders.models import Order

ids = Order.objects.filter(store__slug="{STORE}").values_list("external_id", flat=True)
print(json.dumps(list(ids)))
"""


def _django(env: dict[str, str], code: str) -> str:
    """Run `code` in a fresh Python with Django set up for the installation."""
    prelude = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'aftersale.settings'); from aftersale.lib import installation; "
        "installation.prepare(); django.setup()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"setting up the installation failed:\n{done.stderr}")
    return done.stdout


@contextmanager
def _gunicorn(env: dict[str, str], *, workers: int) -> Iterator[int]:
    """gunicorn serving aftersale.wsgi on a free port of 127.0.0.1 until the block ends."""
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "aftersale.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        _wait_for(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped with status {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # a server starting, not the scheduler: nothing to inject
    raise SystemExit("gunicorn did not listen within 60 s")


def _phase(port: int, key: str, *, clients: int, seconds: float, post: bool) -> list[Tally]:
    """`clients` threads sending for `seconds` each; what each saw."""
    tallies = [Tally() for _ in range(clients)]
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_client, args=(port, key, n, tally, stop_at, post))
        for n, tally in enumerate(tallies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tallies


def _client(port: int, key: str, n: int, tally: Tally, stop_at: float, post: bool) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    chooser = random.Random(n)
    sent: list[str] = []
    while time.monotonic() < stop_at:
        if post:
            order_id = _next_order_id(n, sent, chooser)
            method, path = "POST", "/api/v1/orders"
            body: bytes | None = json.dumps(_order(order_id, chooser)).encode()
        else:
            order_id, method, path, body = "", "GET", f"/api/v1/orders/none-{n}", None
        status = _request(connection, method, path, body, headers, tally)
        if post and status in (200, 201):
            tally.accepted.add(order_id)
        elif status is not None and status != (201 if post else 404) and status != 200:
            tally.errors.append(f"{method} {path}: HTTP {status}")
    connection.close()


def _next_order_id(n: int, sent: list[str], chooser: random.Random) -> str:
    if sent and chooser.random() < 0.05:
        return chooser.choice(sent)  # a webhook retried
    sent.append(f"{n}-{len(sent)}")
    return sent[-1]


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    tally: Tally,
) -> int | None:
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as error:
        tally.errors.append(f"{method} {path}: {error!r}")
        connection.close()  # reconnects on the next request
        return None
    tally.latencies.append(time.perf_counter() - started)
    return response.status


def _order(order_id: str, chooser: random.Random) -> dict[str, object]:
    customer = chooser.randrange(5_000)
    products = [chooser.randrange(500) for _ in range(chooser.randint(1, 5))]
    lines = [
        {
            "product_id": f"p{product}",
            "name": f"Product {product}",  # one name per product: no renames under load
            "quantity": chooser.randint(1, 3),
            "unit_price": f"{chooser.randint(100, 5_000) / 100:.2f}",
        }
        for product in products
    ]
    return {
        "id": order_id,
        "customer": {"id": f"c{customer}", "email": f"buyer{customer}@example.com"},
        "placed_at": "2026-01-05T10:00:00",
        "line_items": lines,
    }


def _result(
    baseline: list[Tally],
    load: list[Tally],
    seconds: float,
    accepted: set[str],
    stored: list[str],
) -> dict[str, object]:
    latencies = sorted(x for t in load for x in t.latencies)
    base_requests = sum(len(t.latencies) for t in baseline)
    orders_per_second = len(latencies) / seconds
    baseline_per_second = base_requests / seconds
    return {
        "orders_per_second": round(orders_per_second, 1),
        "p99_seconds": round(_percentile(latencies, 0.99), 4),
        "baseline_requests_per_second": round(baseline_per_second, 1),
        "ratio": round(orders_per_second / baseline_per_second, 3) if base_requests else 0.0,
        "orders_sent": len(accepted),
        "lost": len(accepted - set(stored)),
        "duplicated": len(stored) - len(set(stored)),
        "errors": sum(len(t.errors) for t in (*baseline, *load)),
    }


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(fraction * len(values)))]


def _print(result: dict[str, object], args: argparse.Namespace, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    database = "PostgreSQL" if args.database_url else "SQLite"
    table = Table(
        title=f"POST /api/v1/orders, gunicorn {args.workers} workers, {args.clients} "
        f"clients, {seconds:.0f} s a phase, {database}, load {_load()}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in result.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int | float) else str(value))
    Console().print(table)
    intact = result["lost"] == 0 and result["duplicated"] == 0
    print("no order lost or duplicated" if intact else "ORDERS LOST OR DUPLICATED")


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
