"""The flow report page's holdout and A/B part, and its CSV rows: what
`reports.experiments.experiment_keys` computed, as text in the store's locale, and the
incremental revenue's two intervals drawn as a server-side SVG (readable without
colour: every number is written next to its mark)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aftersale.dashboard.money import money
from aftersale.reports.selectors import FlowReport
from aftersale.stores.models import Store

# The CSV's columns after the flow's own (dashboard.reports.CSV_COLUMNS).
EXPERIMENT_CSV_COLUMNS = (
    "group",
    "customers",
    "buyers",
    "conversion_pct",
    "revenue_per_customer",
    "maturing",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "probability_best",
    "note",
)


@dataclass(frozen=True)
class GroupRow:
    key: str
    label: str
    customers: str
    bought: str
    revenue_per_customer: str
    maturing: str


@dataclass(frozen=True)
class EstimateRow:
    """One method's incremental revenue: the estimate and its 95% interval as text."""

    key: str
    label: str
    value: str
    interval: str


@dataclass(frozen=True)
class IntervalMark:
    """One interval drawn on the shared axis: x positions in percent of the width."""

    key: str
    label: str
    interval: str
    y: int
    low: float
    high: float
    estimate: float

    @property
    def interval_y(self) -> int:
        return self.y + 17

    @property
    def line_y(self) -> int:
        return self.y + 32


@dataclass(frozen=True)
class IntervalChart:
    description: str
    zero: float
    marks: list[IntervalMark]

    @property
    def height(self) -> int:
        return len(self.marks) * ROW + 20


ROW = 62  # pixels of one interval: its two lines of text and its line


@dataclass(frozen=True)
class VariantRow:
    step: int
    variant: str
    weight: int
    recipients: str
    bought: str
    revenue_per_recipient: str
    interval: str
    p_value: str
    probability_best: str
    verdict: str


@dataclass(frozen=True)
class ExperimentPanel:
    percent: int
    window_days: str
    groups: list[GroupRow]
    estimates: list[EstimateRow]
    variance_reduction: str
    verdict: str
    conclusive: bool
    chart: IntervalChart | None
    variants: list[VariantRow]


def _amount(value: float | None, currency: str, store: Store) -> str:
    return "n/a" if value is None else money(value, currency, store)


def _interval(pair: list[float | None] | None, currency: str, store: Store) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "n/a"
    return f"{money(pair[0], currency, store)} to {money(pair[1], currency, store)}"


def experiment_panel(report: FlowReport, store: Store) -> ExperimentPanel:
    """The holdout comparison and the A/B variants of `report` as the page shows them:
    recipients against holdout, the incremental revenue by both methods with its 95%
    interval (text and chart), the variance CUPED removed and the verdict in words."""
    c = report.currency

    def group(key: str, label: str, data: dict[str, Any]) -> GroupRow:
        return GroupRow(
            key=key,
            label=label,
            customers=f"{data.get('customers', 0):,}",
            bought=f"{data.get('conversion', 0.0):.1f} % ({data.get('buyers', 0):,})",
            revenue_per_customer=_amount(data.get("revenue_per_customer"), c, store),
            maturing=f"{data.get('maturing', 0):,}",
        )

    methods = [
        ("bootstrap", "Bootstrap", report.incremental_revenue, report.incremental_revenue_ci),
        (
            "cuped",
            "CUPED",
            report.incremental_revenue_cuped,
            report.incremental_revenue_cuped_ci,
        ),
    ]
    estimates = [
        EstimateRow(key, label, _amount(value, c, store), _interval(ci, c, store))
        for key, label, value, ci in methods
    ]
    reduction = report.variance_reduction
    return ExperimentPanel(
        percent=int(report.holdout.get("percent", 0)),
        window_days=f"{report.holdout.get('window_days', 0):g}",
        groups=[
            group("recipients", "Recipients", report.recipients),
            group("holdout", "Holdout", report.holdout),
        ],
        estimates=estimates,
        variance_reduction="" if reduction is None else f"{100 * reduction:.0f} %",
        verdict=report.holdout_verdict,
        conclusive=not report.holdout_verdict.startswith(("Too small", "No holdout")),
        chart=_interval_chart(methods, estimates),
        variants=[_variant(v, c, store) for v in report.variants],
    )


def _interval_chart(
    methods: list[tuple[str, str, float | None, list[float | None] | None]],
    estimates: list[EstimateRow],
) -> IntervalChart | None:
    drawn = [
        (key, label, value, ci[0], ci[1], text)
        for (key, label, value, ci), text in zip(methods, estimates, strict=True)
        if value is not None and ci and ci[0] is not None and ci[1] is not None
    ]
    if not drawn:
        return None
    lowest = min(0.0, *(low for _, _, _, low, _, _ in drawn))
    highest = max(0.0, *(high for _, _, _, _, high, _ in drawn))
    span = (highest - lowest) or 1.0

    def x(value: float) -> float:
        return round(2 + 96 * (value - lowest) / span, 2)

    marks = [
        IntervalMark(
            key=key,
            label=f"{label}: {text.value}",
            interval=f"95 %: {text.interval}",
            y=i * ROW + 14,
            low=x(low),
            high=x(high),
            estimate=x(value),
        )
        for i, (key, label, value, low, high, text) in enumerate(drawn)
    ]
    description = (
        "; ".join(f"{m.label} ({m.interval})" for m in marks) + ". The dashed mark is zero."
    )
    return IntervalChart(description=description, zero=x(0.0), marks=marks)


def _variant(v: dict[str, Any], currency: str, store: Store) -> VariantRow:
    return VariantRow(
        step=v["step"] + 1,
        variant=v["variant"],
        weight=v["weight"],
        recipients=f"{v['recipients']:,}",
        bought=f"{v['conversion']:.1f} % ({v['buyers']:,})",
        revenue_per_recipient=_amount(v["revenue_per_recipient"], currency, store),
        interval=_interval(v["revenue_per_recipient_ci"], currency, store),
        p_value="" if v["p_value"] is None else f"{v['p_value']:.3f}",
        probability_best=f"{100 * v['probability_best']:.0f} %",
        verdict=v["verdict"],
    )


def experiment_csv_rows(report: FlowReport, columns: tuple[str, ...]) -> list[list[object]]:
    """The holdout comparison as CSV rows under `columns`: a "recipients" and a
    "holdout" row, an "incremental_revenue" row per method (group bootstrap or cuped:
    estimate, ci_low, ci_high, in `currency`), and a "variant" row per A/B variant."""
    rows: list[dict[str, object]] = []
    for key, data in (("recipients", report.recipients), ("holdout", report.holdout)):
        rows.append(
            {
                "row": key,
                "group": key,
                "customers": data.get("customers", 0),
                "buyers": data.get("buyers", 0),
                "conversion_pct": data.get("conversion", 0.0),
                "revenue_per_customer": data.get("revenue_per_customer"),
                "maturing": data.get("maturing", 0),
                "currency": report.currency,
                "note": f"holdout {data['percent']} %, window {data['window_days']:g} days"
                if key == "holdout"
                else "",
            }
        )
    for group, value, ci, note in (
        ("bootstrap", report.incremental_revenue, report.incremental_revenue_ci, ""),
        (
            "cuped",
            report.incremental_revenue_cuped,
            report.incremental_revenue_cuped_ci,
            ""
            if report.variance_reduction is None
            else f"variance reduced by {100 * report.variance_reduction:.0f} %",
        ),
    ):
        rows.append(
            {
                "row": "incremental_revenue",
                "group": group,
                "estimate": value,
                "ci_low": ci[0] if ci else None,
                "ci_high": ci[1] if ci else None,
                "currency": report.currency,
                "note": note or report.holdout_verdict,
            }
        )
    for v in report.variants:
        interval = v["revenue_per_recipient_ci"] or [None, None]
        rows.append(
            {
                "row": "variant",
                "step": v["step"],
                "group": v["variant"],
                "customers": v["recipients"],
                "buyers": v["buyers"],
                "conversion_pct": v["conversion"],
                "revenue_per_customer": v["revenue_per_recipient"],
                "ci_low": interval[0],
                "ci_high": interval[1],
                "p_value": v["p_value"],
                "probability_best": v["probability_best"],
                "currency": report.currency,
                "note": v["verdict"],
            }
        )
    return [["" if row.get(c) is None else row.get(c, "") for c in columns] for row in rows]
