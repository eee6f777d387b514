"""`aftersale import orders|products FILE.csv [--store SLUG] [--columns ours=theirs,...]
[--non-product CODE,...]`: load history from CSV."""

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aftersale.integrations.csv_formats import parse_columns
from aftersale.integrations.csv_import import (
    NON_PRODUCT_CODES,
    ORDER_FIELDS,
    ImportReport,
    import_orders_csv,
    import_products_csv,
)
from aftersale.integrations.csv_source import CsvFormatError, open_csv
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


class Command(BaseCommand):
    help = "Import orders or products from a CSV file (columns: docs/csv-import.md)."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True)
        for kind in ("orders", "products"):
            sub = kinds.add_parser(kind, help=f"import {kind} from a CSV file")
            sub.add_argument("file", type=Path)
            sub.add_argument("--store", dest="store", default=None, help="store slug")
        orders = kinds.choices["orders"]  # type: ignore[attr-defined]
        orders.add_argument(
            "--columns",
            default="",
            help="the file's columns for Aftersale's fields: order_id=Invoice,email=Email,...",
        )
        orders.add_argument(
            "--non-product",
            default=None,
            help="product ids that are no product (postage, fees), comma-separated; "
            "default: the store's (dashboard Settings), else "
            f"{','.join(sorted(NON_PRODUCT_CODES))}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        store = store_for_command(options["store"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        console = Console(file=cast(IO[str], _Unbuffered(self)), highlight=False, soft_wrap=True)
        try:
            columns = parse_columns(options.get("columns") or "", known=ORDER_FIELDS)
            codes = options.get("non_product")
            non_product = None if codes is None else [c for c in codes.split(",") if c.strip()]
            report = _run(options["kind"], store, path, console, columns, non_product)
        except CsvFormatError as error:
            raise CommandError(f"{path}: {error}") from error
        _print_report(console, report)
        if report.errors:
            raise CommandError(f"{len(report.errors)} line(s) skipped", returncode=1)


class _Unbuffered:
    """The command's stdout without Django's added line endings, which break rich's output."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> int:
        self.command.stdout.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.command.stdout.flush()


# Without a terminal, progress is a plain line at most this often (seconds).
_LOG_EVERY = 5.0


def _run(
    kind: str,
    store: Store,
    path: Path,
    console: Console,
    mapping: dict[str, str],
    non_product: list[str] | None,
) -> ImportReport:
    """Import `path`, showing the orders imported so far: a bar on a terminal, a plain
    line every few seconds otherwise (a log)."""
    columns = (
        TextColumn(f"importing {kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows" if kind == "orders" else "bytes"),
        TimeRemainingColumn(),
    )
    plain = not console.is_terminal
    with path.open("rb") as raw, Progress(*columns, console=console, disable=plain) as bar:
        # Orders are put back together by order before they are imported: the bar
        # counts the rows imported out of those read (products: the bytes read).
        task = bar.add_task(kind, total=None if kind == "orders" else path.stat().st_size)
        text = open_csv(raw)
        logged = [time.monotonic()]

        def advance(report: ImportReport) -> None:
            if kind == "orders":
                bar.update(task, total=report.rows_read, completed=_rows(report))
            else:
                bar.update(task, completed=raw.tell())
            if plain and time.monotonic() - logged[0] >= _LOG_EVERY:
                logged[0] = time.monotonic()
                console.print(f"{_rows(report):,} rows imported, {report.imported:,} {kind}")

        if kind == "orders":
            report = import_orders_csv(
                store=store,
                stream=text,
                now=clock.now(),
                progress=advance,
                columns=mapping or None,
                non_product=non_product,
            )
        else:
            report = import_products_csv(store=store, stream=text, progress=advance)
        done = report.rows_read if kind == "orders" else path.stat().st_size
        bar.update(task, total=done, completed=done)
    return report


def _rows(report: ImportReport) -> int:
    return report.rows_imported + report.without_customer + len(report.errors)


def _print_report(console: Console, report: ImportReport) -> None:
    console.print(
        f"{report.rows_read} rows read, {report.rows_imported} imported: "
        f"{report.imported} {report.kind} ({report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged), {report.skipped} {report.kind} skipped"
        if report.kind == "orders"
        else f"{report.rows_read} rows read: {report.imported} products "
        f"({report.created} new, {report.updated} updated)"
    )
    if report.kind == "orders":
        _print_order_notes(console, report)
    for line, reason in report.errors:
        console.print(f"line {line}: {reason}", markup=False)


def _print_order_notes(console: Console, report: ImportReport) -> None:
    """What the import did beyond its counts: the format read, rows set aside, returns,
    and that history starts no journeys."""
    console.print(f"read as: {report.format}", markup=False)
    if report.without_customer:
        console.print(
            f"{report.without_customer} rows without a customer email or id skipped",
            markup=False,
        )
    if report.non_product_lines:
        console.print(
            f"{report.non_product_lines} non-product lines (postage, fees) counted in their "
            "orders' totals, not as products",
            markup=False,
        )
    if report.cancellation_lines:
        console.print(
            f"{report.cancellation_lines} cancellation lines: {report.cancellations_applied} "
            "refunded from the order they cancel, "
            f"{report.cancellation_lines - report.cancellations_applied} without their order",
            markup=False,
        )
    if report.journeys_from is not None:
        console.print(
            f"history: {report.history_orders} orders placed before "
            f"{report.journeys_from:%Y-%m-%d %H:%M} UTC started no journeys "
            "(only orders placed from now on do)",
            markup=False,
        )
