import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.recommendations.evaluation.chart import write_chart
from aftersale.recommendations.evaluation.data import (
    load_complete_journey,
    load_csv,
    parse_columns,
    subsample,
)
from aftersale.recommendations.evaluation.output import (
    comparison_lines,
    report_data,
    report_table,
)
from aftersale.recommendations.evaluation.records import save_evaluation
from aftersale.recommendations.evaluation.run import (
    DEFAULT_TEST_CUT,
    DEFAULT_VALIDATION_CUT,
    count_steps,
    evaluate,
    methods,
)
from aftersale.recommendations.evaluation.store_orders import store_orders
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store

QUICK_CUSTOMERS = 400


class Command(BaseCommand):
    help = (
        "Evaluate Aftersale's recommendation strategies against tuned library baselines "
        "(popularity, personal frequency, mlxtend rules, implicit ALS / item-KNN) on a "
        "temporal split of an order history; print the table, write a PNG chart and keep "
        "the run for the dashboard's Recommendations page."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument("--k", type=int, default=4, help="products per list")
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"a sample of {QUICK_CUSTOMERS} customers, smaller grids",
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--orders", type=Path, help="order lines CSV (default: Complete Journey)"
        )
        source.add_argument(
            "--store", help="evaluate this store's own order history (from the database)"
        )
        parser.add_argument(
            "--columns", default="", help="customer=COL,order=COL,product=COL,time=COL[,price=COL]"
        )
        parser.add_argument("--cut", default=str(DEFAULT_TEST_CUT.astype("datetime64[D]")))
        parser.add_argument(
            "--validation-cut", default=str(DEFAULT_VALIDATION_CUT.astype("datetime64[D]"))
        )
        parser.add_argument("--chart", type=Path, help="PNG path (default var/evaluation.png)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["k"] < 1:
            raise CommandError("--k must be at least 1")
        started = time.perf_counter()
        validation_cut = _cut(options["validation_cut"], option="--validation-cut")
        test_cut = _cut(options["cut"], option="--cut")
        store = store_for_command(options["store"]) if options["store"] else None
        orders = store_orders(store=store) if store else _orders(options)
        if options["quick"]:
            orders = subsample(orders=orders, customers=QUICK_CUSTOMERS)
        candidates = methods(quick=options["quick"])
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description:<60}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=options["format"] == "json",
        ) as progress:
            bar = progress.add_task("evaluating", total=count_steps(candidates=candidates))
            report = evaluate(
                orders=orders,
                k=options["k"],
                candidates=candidates,
                validation_cut=validation_cut,
                test_cut=test_cut,
                step=lambda text: progress.update(bar, advance=1, description=text),
            )
            progress.update(bar, completed=count_steps(candidates=candidates), description="done")
        chart = options["chart"] or settings.DATA_DIR / "evaluation.png"
        write_chart(rows=report.rows, k=report.k, path=chart)
        run = save_evaluation(
            report=report,
            dataset=_dataset(options=options, store=store),
            store=store,
            cut=test_cut.astype("datetime64[D]").item(),
            validation_cut=validation_cut.astype("datetime64[D]").item(),
            quick=options["quick"],
            seconds=time.perf_counter() - started,
            now=clock.now(),
        )
        # On stderr with JSON output, so stdout stays one JSON document.
        console.print(f"saved as evaluation run {run.pk}: the dashboard's Recommendations page")
        if options["format"] == "json":
            self.stdout.write(json.dumps(report_data(report=report), indent=2))
            return
        out = Console(width=140)
        out.print(report_table(report=report))
        for line in comparison_lines(report=report):
            out.print(line)
        out.print(f"chart: {chart}")


def _orders(options: dict[str, Any]) -> Any:
    """The order lines the options name: a CSV export, or the Complete Journey."""
    if options["orders"] is None:
        return load_complete_journey()
    try:
        return load_csv(path=options["orders"], columns=parse_columns(spec=options["columns"]))
    except (ValueError, KeyError, OSError) as error:
        raise CommandError(f"cannot read {options['orders']}: {error}") from error


def _cut(text: str, *, option: str) -> np.datetime64:
    """A cut given as an ISO date (or date and time)."""
    try:
        return np.datetime64(text, "s")
    except ValueError as error:
        raise CommandError(f"{option} {text!r} is not an ISO date like 2017-11-01") from error


def _dataset(*, options: dict[str, Any], store: Store | None) -> str:
    """What was evaluated, as the dashboard names it."""
    if store is not None:
        return f"{store.name} order history"
    return options["orders"].name if options["orders"] else "The Complete Journey"
