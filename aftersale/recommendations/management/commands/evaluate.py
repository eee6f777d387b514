import json
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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
from aftersale.recommendations.evaluation.run import (
    DEFAULT_TEST_CUT,
    DEFAULT_VALIDATION_CUT,
    count_steps,
    evaluate,
    methods,
)

QUICK_CUSTOMERS = 400


class Command(BaseCommand):
    help = (
        "Evaluate Aftersale's recommendation strategies against tuned library baselines "
        "(popularity, personal frequency, mlxtend rules, implicit ALS / item-KNN) on a "
        "temporal split of an order history; print the table and write a PNG chart."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument("--k", type=int, default=4, help="products per list")
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"a sample of {QUICK_CUSTOMERS} customers, smaller grids",
        )
        parser.add_argument(
            "--orders", type=Path, help="order lines CSV (default: Complete Journey)"
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
        orders = _orders(options)
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
                validation_cut=np.datetime64(options["validation_cut"]),
                test_cut=np.datetime64(options["cut"]),
                step=lambda text: progress.update(bar, advance=1, description=text),
            )
            progress.update(bar, completed=count_steps(candidates=candidates), description="done")
        chart = options["chart"] or settings.DATA_DIR / "evaluation.png"
        write_chart(rows=report.rows, k=report.k, path=chart)
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
