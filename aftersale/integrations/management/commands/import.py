"""`aftersale import orders|products FILE.csv [--store SLUG]`: load history from CSV."""

from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from aftersale.integrations.csv_import import ImportReport, import_orders_csv, import_products_csv
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

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        store = store_for_command(options["store"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        console = Console(file=cast(IO[str], _Unbuffered(self)), highlight=False, soft_wrap=True)
        try:
            report = _run(options["kind"], store, path, console)
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


def _run(kind: str, store: Store, path: Path, console: Console) -> ImportReport:
    """Import `path`, showing how much of the file has been read."""
    columns = (
        TextColumn(f"importing {kind}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with path.open("rb") as raw, Progress(*columns, console=console) as bar:
        task = bar.add_task(kind, total=path.stat().st_size)
        text = open_csv(raw)

        def advance(_: ImportReport) -> None:
            bar.update(task, completed=raw.tell())

        if kind == "orders":
            report = import_orders_csv(store=store, stream=text, now=clock.now(), progress=advance)
        else:
            report = import_products_csv(store=store, stream=text, progress=advance)
        bar.update(task, completed=path.stat().st_size)
    return report


def _print_report(console: Console, report: ImportReport) -> None:
    console.print(
        f"{report.rows_read} rows read, {report.rows_imported} imported: "
        f"{report.imported} {report.kind} ({report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged), {report.skipped} {report.kind} skipped"
        if report.kind == "orders"
        else f"{report.rows_read} rows read: {report.imported} products "
        f"({report.created} new, {report.updated} updated)"
    )
    for line, reason in report.errors:
        console.print(f"line {line}: {reason}", markup=False)
