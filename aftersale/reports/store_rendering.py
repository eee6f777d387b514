"""Drawing the store-level report for the terminal."""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console, Group
from rich.table import Table

from aftersale.reports.store import CLV_MONTHS, StoreReport


def store_console(file: IO[str] | None = None) -> Console:
    """A console writing to `file` at least 170 columns wide when it is no terminal: a
    cohort row has 16 columns (the cohort, customers, repeat rate, months 0 to 12)."""
    console = Console(file=file)
    return console if console.is_terminal else Console(file=file, width=max(console.width, 170))


def repeat_rate_text(report: StoreReport) -> str:
    """The repeat-purchase rate with its counts, or why there is none yet:
    "57.1% (4 of 7)"."""
    if report.repeat_rate_pct is None:
        return "not measurable yet (no first order a year old)"
    return (
        f"{report.repeat_rate_pct:.1f}% "
        f"({report.repeated_within_12_months:,} of {report.measurable:,})"
    )


def store_report_tables(report: StoreReport) -> Group:
    """The report as rich tables: the repeat purchases, then one table per currency of
    cumulative revenue per customer by cohort month (months 0 to 12 after the first)."""
    span = (
        f"first orders {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"
        if report.since and report.until
        else f"first orders from {report.since:%Y-%m-%d}"
        if report.since
        else f"first orders before {report.until:%Y-%m-%d}"
        if report.until
        else "all customers"
    )
    overview = Table(
        title=f"Store report ({report.store}, {report.time_zone}): {span}", title_justify="left"
    )
    for column in (
        "Customers",
        "Repeat within 12 months",
        "Benchmark",
        "Maturing",
        "Repeat customers",
        "Median days to 2nd order",
    ):
        overview.add_column(column, justify="right")
    median = report.median_days_to_second_order
    overview.add_row(
        f"{report.customers:,}",
        repeat_rate_text(report),
        f"{report.benchmark_pct:.0f}%",
        f"{report.maturing:,}",
        f"{report.repeat_customers:,}",
        "none yet" if median is None else f"{median:.1f}",
    )
    parts: list[object] = [overview, f"Benchmark: {report.benchmark_source} (seed 003)."]
    for currency in report.currencies:
        table = Table(
            title=f"Cumulative revenue per customer by first-order month, {currency}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
        )
        table.add_column("Cohort", no_wrap=True)
        table.add_column("Customers", justify="right", no_wrap=True)
        table.add_column("Repeat", justify="right", no_wrap=True)
        for month in range(CLV_MONTHS + 1):
            table.add_column(f"M{month}", justify="right", no_wrap=True)
        for cohort in report.cohorts:
            values = cohort.revenue_per_customer.get(currency)
            if values is None:
                continue
            rate = "—" if cohort.repeat_rate_pct is None else f"{cohort.repeat_rate_pct:.1f}%"
            table.add_row(
                f"{cohort.month:%Y-%m}",
                f"{cohort.customers:,}",
                rate,
                *(f"{value:,.2f}" for value in values),
                *([""] * (CLV_MONTHS + 1 - len(values))),
            )
        parts.append(table)
    if not report.cohorts:
        parts.append("No purchases yet.")
    else:
        parts.append(
            "M0 is the month of the first order (the store's time zone), Mk k months "
            "later; only months that have ended. Each currency on its own: never added."
        )
    return Group(*parts)  # type: ignore[arg-type]
