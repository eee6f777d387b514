"""CSV import benchmark: `aftersale import orders` on a generated history file.

    .venv/bin/python benchmarks/import.py [--quick] [--lines N] [--format text|json]
        [--postgres URL]

Makes a fresh database (SQLite in a temporary AFTERSALE_HOME, or a new database on the
PostgreSQL server of --postgres, dropped after) with one store, and writes a seeded CSV
of N line items (default 1,000,000; --quick 100,000) in Aftersale's columns: orders of 1
to 5 lines, a customer for every 4 orders, 5,000 products, one order in ten in EUR beside
USD, and the rows of neighbouring orders interleaved (so the import has to put orders
back together, as with a gift shop's export). Then, in the same run:

- the import: the `import orders` command on the file, its wall time (and, in the text
  format, the CPU time of this process: on a shared machine, what the wall time holds
  beyond waiting for a core; PostgreSQL's own work is in the server's process);
- the baseline: a plain bulk insert of the same rows (the csv module's rows, untouched,
  into a table of text columns by executemany in one transaction): what writing the
  file's rows costs with no reading of their values, no orders, customers or products.

`--format json` prints exactly {"line_items_per_s", "baseline_per_s", "ratio"} (ratio:
the import's rate over the baseline's). The text format also prints the line items
stored, the seconds, the peak memory and the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throwaway_database import postgres_database, setup_django

HEADER = [
    "order_id",
    "customer_id",
    "email",
    "first_name",
    "placed_at",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "currency",
]
PRODUCTS = 5_000
INTERLEAVE = 50  # the rows of this many neighbouring orders are mixed
BATCH = 10_000


def main() -> None:
    """Parse the arguments, write the file, time the import and the baseline, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 line items")
    parser.add_argument("--lines", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server's URL")
    args = parser.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    with _database(args.postgres) as home:
        setup_django()
        path = home / "orders.csv"
        _write_file(path, lines)
        import_s, import_cpu_s, stored = _time_import(path)
        baseline_s = _time_baseline(path)
    result = {
        "line_items_per_s": round(lines / import_s, 1),
        "baseline_per_s": round(lines / baseline_s, 1),
        "ratio": round(baseline_s / import_s, 4),
    }
    if args.format == "json":
        print(json.dumps(result))
        return
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"line items in the file: {lines:,}; stored: {stored:,}")
    print(f"import: {import_s:.1f} s, {result['line_items_per_s']:,.0f} line items/s")
    # On a shared machine the wall time includes waiting for a core; this does not.
    print(
        f"import CPU time (this process): {import_cpu_s:.1f} s, "
        f"{1000 * import_cpu_s / max(lines, 1) * 1000:.1f} ms per 1,000 line items"
    )
    print(f"baseline (plain bulk insert): {baseline_s:.1f} s, {result['baseline_per_s']:,.0f}/s")
    print(f"ratio: {result['ratio']}; peak memory: {peak_mb:.0f} MB")
    print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()}")


@contextlib.contextmanager
def _database(postgres: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as home:
        os.environ["AFTERSALE_HOME"] = home
        if not postgres:
            os.environ["AFTERSALE_DATABASE_URL"] = f"sqlite:///{home}/bench.sqlite3"
            yield Path(home)
            return
        with postgres_database(postgres) as url:
            os.environ["AFTERSALE_DATABASE_URL"] = url
            yield Path(home)


def _write_file(path: Path, lines: int) -> None:
    """A seeded file of `lines` line items, neighbouring orders' rows interleaved."""
    rnd = random.Random(16)
    customers = max(1, lines // 12)
    written = order = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        while written < lines:
            block = []
            for _ in range(INTERLEAVE):
                order += 1
                customer = rnd.randrange(customers)
                day = 1 + order % 28
                placed = f"2025-{1 + order % 12:02}-{day:02}T{order % 24:02}:{order % 60:02}:00Z"
                currency = "EUR" if order % 10 == 0 else "USD"
                for _ in range(min(rnd.randint(1, 5), lines - written - len(block))):
                    product = rnd.randrange(PRODUCTS)
                    block.append(
                        [
                            f"o{order}",
                            f"c{customer}",
                            f"c{customer}@example.com",
                            f"Name{customer}",
                            placed,
                            f"p{product}",
                            f"Product {product}",
                            str(rnd.randint(1, 4)),
                            f"{rnd.randint(100, 9_999) / 100:.2f}",
                            currency,
                        ]
                    )
            rnd.shuffle(block)
            writer.writerows(block)
            written += len(block)


def _time_import(path: Path) -> tuple[float, float, int]:
    from django.core.management import call_command

    from aftersale.lib import clock
    from aftersale.orders.models import LineItem
    from aftersale.stores.services import create_store

    create_store(name="Bench", slug="bench", now=clock.now())
    started, cpu = time.perf_counter(), time.process_time()
    call_command("import", "orders", str(path), "--store", "bench", stdout=io.StringIO())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return elapsed, cpu, LineItem.objects.count()


def _time_baseline(path: Path) -> float:
    from django.db import connection, transaction

    columns = ", ".join(f"c{i} TEXT" for i in range(len(HEADER)))
    marks = ", ".join(["%s"] * len(HEADER))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_rows ({columns})")
    started = time.perf_counter()
    with path.open(newline="") as source, transaction.atomic(), connection.cursor() as cursor:
        reader = csv.reader(source)
        next(reader)
        while batch := [row for _, row in zip(range(BATCH), reader, strict=False)]:
            cursor.executemany(f"INSERT INTO bench_rows VALUES ({marks})", batch)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
