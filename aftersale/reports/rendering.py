"""Drawing a flow report for the terminal."""

from decimal import Decimal
from typing import IO

from rich.console import Console, Group
from rich.table import Table

from aftersale.reports.selectors import FlowReport


def wide_console(file: IO[str] | None = None) -> Console:
    """A console writing to `file` (standard output by default) at least 160 columns
    wide: a report piped to a file or read in CI is otherwise squeezed into 80 (the
    steps table needs about 150)."""
    console = Console(file=file)
    return console if console.is_terminal else Console(file=file, width=max(console.width, 160))


# A message's counts after Sent, by MessageStats field: the column each is under.
_MESSAGE_COUNTS = {
    "delivered": "Delivered",
    "read": "Read",
    "replied": "Replied",
    "bounced": "Bounced",
    "clicked": "Clicked",
    "unsubscribed": "Unsubscribed",
    "skipped": "Skipped",
    "purchased": "Purchased",
}


def report_tables(report: FlowReport) -> Group:
    """The report as rich tables: the flow overview, its steps and its messages."""
    span = (
        f"journeys started {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"
        if report.since and report.until
        else f"journeys started from {report.since:%Y-%m-%d}"
        if report.since
        else f"journeys started before {report.until:%Y-%m-%d}"
        if report.until
        else "all journeys"
    )
    overview = Table(
        title=f"{report.name} ({report.flow}, {report.status} v{report.version}): {span}",
        title_justify="left",
    )
    for column in ("Started", "Exited", "Completed", "Purchased", "Revenue", "Attributed"):
        overview.add_column(column, justify="right")
    overview.add_row(
        f"{report.started:,}",
        f"{report.exited_pct:.1f}% ({report.exited:,})",
        f"{report.completed_pct:.1f}% ({report.completed:,})",
        f"{report.purchased_pct:.1f}% ({report.purchased:,})",
        _amounts(report.revenue_by_currency, report.currency),
        f"{_amounts(report.attributed_revenue_by_currency, report.currency)}"
        f" ({report.attributed_orders:,} orders)",
    )
    steps = Table(title="Steps", title_justify="left")
    for column in ("#", "Step", "Waiting", "Progressed"):
        steps.add_column(column, justify="left" if column == "Step" else "right")
    messages = Table(
        title="Messages (Purchased and Revenue: the orders credited to them)",
        title_justify="left",
    )
    for column in ("#", "Sent", *_MESSAGE_COUNTS.values(), "Revenue"):
        messages.add_column(column, justify="right")
    for step in report.steps:
        steps.add_row(str(step.index), step.label, f"{step.waiting:,}", f"{step.progressed:,}")
        if step.message:
            m = step.message
            messages.add_row(
                str(step.index),
                f"{m.sent:,}",
                *(f"{getattr(m, name):,}" for name in _MESSAGE_COUNTS),
                _amounts(m.revenue_by_currency, report.currency),
            )
    exits = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(report.exit_reasons.items()))
    return Group(
        overview,
        steps,
        messages,
        f"Exit reasons: {exits or 'none'}",
        *skip_lines(report),
        *experiment_tables(report),
    )


def _amounts(by_currency: dict[str, Decimal], currency: str) -> str:
    """Amounts each with its currency, never added across them ("USD 0.00" for none)."""
    return "  ".join(f"{c} {v:,.2f}" for c, v in by_currency.items()) or f"{currency} 0.00"


def skip_lines(report: FlowReport) -> list[str]:
    """Lines saying why each message was skipped or moved, and how many journeys started
    with every email already overdue (none when there is nothing to say)."""
    lines = []
    for step in report.steps:
        message = step.message
        if message is None or not (message.skipped or message.moved_by_quiet_hours):
            continue
        said = []
        if message.skipped:
            why = ", ".join(f"{r}: {n:,}" for r, n in message.skipped_by_reason.items())
            said.append(f"skipped {message.skipped:,} ({why})")
        if message.moved_by_quiet_hours:
            said.append(f"moved by quiet hours, sent later: {message.moved_by_quiet_hours:,}")
        lines.append(f"Step {step.index} {message.template}: {'; '.join(said)}")
    if report.overdue_at_entry:
        lines.append(
            f"{report.overdue_at_entry:,} journey{'' if report.overdue_at_entry == 1 else 's'} "
            "started with every step already overdue "
            "(late or back-dated orders)"
        )
    return lines


def _amount(currency: str, value: float | None) -> str:
    return "n/a" if value is None else f"{currency} {value:,.2f}"


def _span(currency: str, interval: list[float | None] | None) -> str:
    if not interval:
        return "n/a"
    return f"[{_amount(currency, interval[0])}, {_amount(currency, interval[1])}]"


def experiment_tables(report: FlowReport) -> list[Table | str]:
    """The holdout comparison (recipients against holdout, the incremental revenue by
    both methods with its 95% interval, the verdict) and the A/B variants' table."""
    c = report.currency
    groups = Table(
        title=f"Holdout ({report.holdout.get('percent', 0)}%): each journey followed "
        f"{report.holdout.get('window_days', 0):g} days from entry",
        title_justify="left",
    )
    for column in ("Group", "Customers", "Bought", "Revenue per customer", "Maturing"):
        groups.add_column(column, justify="left" if column == "Group" else "right")
    for label, group in (("Recipients", report.recipients), ("Holdout", report.holdout)):
        groups.add_row(
            label,
            f"{group.get('customers', 0):,}",
            f"{group.get('conversion', 0.0):.1f}% ({group.get('buyers', 0):,})",
            _amount(c, group.get("revenue_per_customer")),
            f"{group.get('maturing', 0):,}",
        )
    lines: list[Table | str] = [
        groups,
        f"Incremental revenue (bootstrap): {_amount(c, report.incremental_revenue)}, "
        f"95% interval {_span(c, report.incremental_revenue_ci)}",
        f"Incremental revenue (CUPED): {_amount(c, report.incremental_revenue_cuped)}, "
        f"95% interval {_span(c, report.incremental_revenue_cuped_ci)}"
        + (
            f", variance reduced by {100 * report.variance_reduction:.0f}%"
            if report.variance_reduction is not None
            else ""
        ),
        report.holdout_verdict,
    ]
    if report.variants:
        variants = Table(title="A/B variants", title_justify="left")
        for column in (
            "Step",
            "Variant",
            "Recipients",
            "Bought",
            "Revenue per recipient (95%)",
            "p-value",
            "P(best)",
            "",
        ):
            variants.add_column(column, justify="left" if column in ("Variant", "") else "right")
        for v in report.variants:
            variants.add_row(
                str(v["step"]),
                v["variant"],
                f"{v['recipients']:,}",
                f"{v['conversion']:.1f}% ({v['buyers']:,})",
                _amount(c, v["revenue_per_recipient"])
                + " "
                + _span(c, v["revenue_per_recipient_ci"]),
                "" if v["p_value"] is None else f"{v['p_value']:.4f}",
                f"{100 * v['probability_best']:.0f}%",
                v["verdict"],
            )
        lines.append(variants)
    return lines
