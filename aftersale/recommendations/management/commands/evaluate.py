import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.recommendations.evaluation.budget import Budget
from aftersale.recommendations.evaluation.chart import write_chart
from aftersale.recommendations.evaluation.cuts import NotEnoughHistory, resolve_cuts
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
# The Complete Journey's methods fit on 1.5 million lines: item-KNN tuning alone takes
# about 90 s and 3 GB on the shared machine, so its default budget per method is wider.
DATASET_BUDGET = Budget(seconds=900.0, memory_mb=6000.0)


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
            help=f"a sample of {QUICK_CUSTOMERS} returning customers, smaller grids",
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
        parser.add_argument(
            "--cut",
            help="test cut, an ISO date (default: chosen from the orders, the last 60 days "
            "or the last fifth of the orders; the Complete Journey's is "
            f"{DEFAULT_TEST_CUT.astype('datetime64[D]')})",
        )
        parser.add_argument(
            "--validation-cut", help="validation cut (default: one test window before --cut)"
        )
        parser.add_argument(
            "--method-seconds",
            type=float,
            help=f"time budget of each method (tuning and final fit); over it, skipped "
            f"(default {Budget().seconds:.0f}, the Complete Journey {DATASET_BUDGET.seconds:.0f})",
        )
        parser.add_argument(
            "--method-memory-mb",
            type=float,
            help=f"memory budget of each method; over it, skipped (default "
            f"{Budget().memory_mb:.0f}, the Complete Journey {DATASET_BUDGET.memory_mb:.0f})",
        )
        parser.add_argument("--chart", type=Path, help="PNG path (default var/evaluation.png)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["k"] < 1:
            raise CommandError("--k must be at least 1")
        started = time.perf_counter()
        store = store_for_command(options["store"]) if options["store"] else None
        validation_cut, test_cut = _cuts(options, dataset=store is None and not options["orders"])
        orders = store_orders(store=store) if store else _orders(options)
        if options["quick"]:
            orders = subsample(orders=orders, customers=QUICK_CUSTOMERS, returning=True)
        candidates = methods(quick=options["quick"])
        console = Console(stderr=True)
        total = count_steps(candidates=candidates)
        dataset = store is None and not options["orders"]
        default = DATASET_BUDGET if dataset else Budget()
        budget = Budget(
            seconds=options["method_seconds"] or default.seconds,
            memory_mb=options["method_memory_mb"] or default.memory_mb,
        )
        try:
            cuts = resolve_cuts(orders=orders, test_cut=test_cut, validation_cut=validation_cut)
        except NotEnoughHistory as missing:
            raise CommandError(str(missing)) from missing
        console.print(
            f"evaluating {len(orders)} order lines; cuts: {cuts.describe()}",
            highlight=False,
            soft_wrap=True,
        )
        if console.is_terminal:
            with Progress(
                TextColumn("{task.description:<60}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=options["format"] == "json",
            ) as progress:
                bar = progress.add_task("evaluating", total=total)
                report = evaluate(
                    orders=orders,
                    k=options["k"],
                    candidates=candidates,
                    cuts=cuts,
                    budget=budget,
                    step=lambda text: progress.update(bar, advance=1, description=text),
                )
                progress.update(bar, completed=total, description="done")
        else:
            report = evaluate(
                orders=orders,
                k=options["k"],
                candidates=candidates,
                cuts=cuts,
                budget=budget,
                step=_log_lines(console=console, total=total, started=started),
            )
        assert report.cuts is not None
        chart = options["chart"] or settings.DATA_DIR / "evaluation.png"
        write_chart(rows=report.rows, k=report.k, path=chart)
        run = save_evaluation(
            report=report,
            dataset=_dataset(options=options, store=store),
            store=store,
            cut=report.cuts.test_cut.astype("datetime64[D]").item(),
            validation_cut=report.cuts.validation_cut.astype("datetime64[D]").item(),
            quick=options["quick"],
            seconds=time.perf_counter() - started,
            now=clock.now(),
        )
        # On stderr with JSON output, so stdout stays one JSON document.
        console.print(f"saved as evaluation run {run.pk}: the dashboard's Recommendations page")
        if store is not None:
            from aftersale.recommendations.evaluation.decide import decide
            from aftersale.recommendations.live import record_decisions

            for live in record_decisions(
                store=store, decisions=decide(report=report), run=run, now=clock.now()
            ):
                pinned = " (pinned: the evaluation chose " + live.evaluated_strategy + ")"
                console.print(
                    f"live {live.task}: {live.strategy}{pinned if live.pinned else ''}; "
                    f"{live.reason}",
                    highlight=False,
                    soft_wrap=True,
                )
        console.print(_peak_memory(), highlight=False)
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


def _cuts(
    options: dict[str, Any], *, dataset: bool
) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """(validation cut, test cut) as given; the Complete Journey's own when it is
    evaluated and none is given, (None, None) for cuts chosen from the orders."""
    test = options["cut"]
    validation = options["validation_cut"]
    if test is None and validation is not None:
        raise CommandError("--validation-cut needs --cut")
    if test is None:
        return (DEFAULT_VALIDATION_CUT, DEFAULT_TEST_CUT) if dataset else (None, None)
    return (
        _cut(validation, option="--validation-cut") if validation else None,
        _cut(test, option="--cut"),
    )


def _log_lines(*, console: Console, total: int, started: float) -> Callable[[str], None]:
    """A step callback printing one plain line per step (output not on a terminal)."""
    done = [0]

    def step(text: str) -> None:
        done[0] += 1
        elapsed = time.perf_counter() - started
        console.print(
            f"[{elapsed:6.1f} s] {done[0]}/{total} {text}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    return step


def _peak_memory() -> str:
    """The peak resident memory of this process and of its largest method process."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak memory: {own:.0f} MB (evaluation), {children:.0f} MB (largest method process)"


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
