"""The store's Repeat purchases page (seed 003 measures success by the second order): the
numbers `aftersale report --store SLUG --format json` prints for the same range of first
orders, as tiles (repeat-purchase rate within 12 months against the 32% benchmark, median
days to the second order, customers), a cohort chart (server-side SVG: cumulative
revenue per customer by months since the first order, one labelled line per cohort) and
a heat-map table with every number, one of each per currency."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from babel.numbers import format_currency
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from aftersale.dashboard.reports import ROW, Bar, Chart, RangeForm, _presets, money
from aftersale.dashboard.views import HtmxRequest, _page, _store
from aftersale.lib import clock
from aftersale.reports.selectors import report_range
from aftersale.reports.store import CLV_MONTHS, Cohort, StoreReport, store_report
from aftersale.stores.models import Store

CHART_COHORTS = 12  # the chart draws the latest cohorts that have a month to show
HEAT_LEVELS = 6  # heat-0 (none) .. heat-5 (the table's largest value)
# The cohort chart's drawing: x in percent of its width (so it is as wide as its card at
# any screen width and its text keeps its size), y in pixels.
PLOT_LEFT, PLOT_RIGHT = 13.0, 80.0  # percent: y-axis labels on the left, cohorts right
PLOT_TOP, PLOT_BOTTOM = 16, 236  # pixels
CHART_HEIGHT = 262
LINE_STYLES = 6  # dash patterns, so lines differ without colour
LABEL_GAP = 13  # pixels between two cohort labels at the right edge


@login_required
@require_GET
@vary_on_headers("HX-Request")
def store_report_page(request: HtmxRequest, slug: str) -> HttpResponse:
    """The store report over the customers whose first order falls in the range the form
    picks (every customer when none); an htmx request gets only the report panel, a
    range that does not parse the form with its errors and what was typed."""
    store = _store(request, slug)
    form = RangeForm(request.GET or None)
    report = _report(store, form)
    context = {
        "section": "store-report",
        "store": store,
        "form": form,
        "report": report,
        "presets": _presets(store),
        "range_query": urlencode({k: request.GET[k] for k in form.fields if request.GET.get(k)}),
        "tiles": tiles(report, store) if report else [],
        "benchmark": benchmark_chart(report) if report else None,
        "currencies": [currency_view(report, c, store) for c in report.currencies]
        if report
        else [],
    }
    status = 200 if report or request.htmx else 400
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "dashboard/store_report/panel.html", context, status=status)
    response = _page(request, "dashboard/store_report/page.html", context)
    response.status_code = status
    return response


@login_required
@require_GET
def store_report_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The cohorts as CSV (CSV_COLUMNS): one row per cohort and currency with its
    customers, repeat counts and cumulative revenue per customer at months 0 to 12 (empty
    for months that have not ended), then a "store" row per currency with the store's
    totals. 400 for a bad range."""
    store = _store(request, slug)
    form = RangeForm(request.GET or None)
    report = _report(store, form)
    if report is None:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    data = form.cleaned_data if form.is_bound else {}
    since = f"{data['since']:%Y-%m-%d}" if data.get("since") else "start"
    until = f"{data['until']:%Y-%m-%d}" if data.get("until") else "now"
    span = "all" if (since, until) == ("start", "now") else f"{since}-to-{until}"
    response["Content-Disposition"] = f'attachment; filename="{store.slug}-cohorts-{span}.csv"'
    csv.writer(response).writerows(csv_rows(report))
    return response


CSV_COLUMNS = (
    "row",
    "cohort",
    "currency",
    "customers",
    "repeat_customers",
    "measurable",
    "repeated_within_12_months",
    "repeat_rate_pct",
    "months_elapsed",
    *(f"m{k}" for k in range(CLV_MONTHS + 1)),
)


def csv_rows(report: StoreReport) -> list[list[object]]:
    """The report as CSV rows under CSV_COLUMNS: a "cohort" row per cohort and currency,
    then a "store" row per currency (the store's totals, the median days left out)."""
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for currency in report.currencies:
        for cohort in report.cohorts:
            values = cohort.revenue_per_customer.get(currency)
            if values is None:
                continue
            rows.append(
                [
                    "cohort",
                    f"{cohort.month:%Y-%m}",
                    currency,
                    cohort.customers,
                    cohort.repeat_customers,
                    cohort.measurable,
                    cohort.repeated_within_12_months,
                    "" if cohort.repeat_rate_pct is None else cohort.repeat_rate_pct,
                    cohort.months_elapsed,
                    *(f"{v:.2f}" for v in values),
                    *[""] * (CLV_MONTHS + 1 - len(values)),
                ]
            )
    for currency in report.currencies or [report.currency]:
        rows.append(
            [
                "store",
                "",
                currency,
                report.customers,
                report.repeat_customers,
                report.measurable,
                report.repeated_within_12_months,
                "" if report.repeat_rate_pct is None else report.repeat_rate_pct,
                *[""] * (CLV_MONTHS + 2),
            ]
        )
    return rows


def _report(store: Store, form: RangeForm) -> StoreReport | None:
    if form.is_bound and not form.is_valid():
        return None
    data = form.cleaned_data if form.is_bound else {}
    since, until = report_range(store=store, since=data.get("since"), until=data.get("until"))
    return store_report(store=store, now=clock.now(), since=since, until=until)


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    note: str


def tiles(report: StoreReport, store: Store) -> list[Tile]:
    """The numbers at the top: the repeat-purchase rate within 12 months with its counts
    and how it compares with the benchmark, the median days to the second order, and the
    customers (how many are still maturing)."""
    if report.repeat_rate_pct is None:
        compared = "Needs customers whose first order is a year old."
    else:
        points = report.repeat_rate_pct - report.benchmark_pct
        side = "above" if points > 0 else "below" if points < 0 else "at"
        compared = (
            f"Benchmark {report.benchmark_pct:.0f} %: {abs(points):.1f} points {side} it."
            if side != "at"
            else f"At the {report.benchmark_pct:.0f} % benchmark."
        )
    median = report.median_days_to_second_order
    return [
        Tile("repeat-rate", "Repeat purchase within 12 months", _rate(report), compared),
        Tile(
            "median-days",
            "Median days to the second order",
            "none yet" if median is None else f"{median:.1f} days",
            f"of {report.repeat_customers:,} repeat customer"
            f"{'' if report.repeat_customers == 1 else 's'}",
        ),
        Tile(
            "customers",
            "Customers",
            f"{report.customers:,}",
            f"{report.maturing:,} still maturing (first order under a year ago)",
        ),
    ]


def _rate(report: StoreReport) -> str:
    if report.repeat_rate_pct is None:
        return "not measurable yet"
    counts = f"{report.repeated_within_12_months:,} of {report.measurable:,}"
    return f"{report.repeat_rate_pct:.1f} % ({counts})"


def benchmark_chart(report: StoreReport) -> Chart:
    """The store's rate next to seed 003's 32 %, as labelled bars on a scale of 0 to
    100 % (only the benchmark while the store's rate is not measurable yet)."""
    rows: list[tuple[str, float, str, str]] = []
    if report.repeat_rate_pct is not None:
        rows.append(("This store", report.repeat_rate_pct, _rate(report), "store-rate"))
    rows.append(
        (
            "Benchmark (RJMetrics, seed 003)",
            report.benchmark_pct,
            f"{report.benchmark_pct:.1f} %",
            "benchmark",
        )
    )
    bars = [
        Bar(label=label, value=shown, kind=kind, y=i * ROW + 15, width=max(round(pct, 2), 0.5))
        for i, (label, pct, shown, kind) in enumerate(rows)
    ]
    described = "; ".join(f"{bar.label}: {bar.value}" for bar in bars)
    return Chart(title="Repeat purchase within 12 months", description=described, bars=bars)


@dataclass(frozen=True)
class Segment:
    x1: float
    y1: int
    x2: float
    y2: int


@dataclass(frozen=True)
class Point:
    x: float
    y: int
    month: int
    value: str


@dataclass(frozen=True)
class Line:
    """One cohort's line: its segments and points, and its label at its last point."""

    label: str
    style: int
    segments: list[Segment]
    points: list[Point]
    label_y: int
    last_value: str


@dataclass(frozen=True)
class Tick:
    y: int
    text: str


@dataclass(frozen=True)
class MonthTick:
    x: float
    text: str
    odd: bool


@dataclass(frozen=True)
class HeatCell:
    text: str
    level: int


@dataclass(frozen=True)
class HeatRow:
    month: str
    customers: str
    repeat: str
    cells: list[HeatCell | None]


@dataclass(frozen=True)
class CurrencyView:
    """A currency's chart and table."""

    currency: str
    chart_id: str
    description: str
    lines: list[Line]
    ticks: list[Tick]
    months: list[MonthTick]
    rows: list[HeatRow]
    height: int = CHART_HEIGHT
    plot_left: float = PLOT_LEFT
    plot_right: float = PLOT_RIGHT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_BOTTOM


def currency_view(report: StoreReport, currency: str, store: Store) -> CurrencyView:
    """The cohort chart (the latest CHART_COHORTS cohorts with a month to show, one line
    each, labelled with the cohort and its latest value) and the heat-map table (every
    cohort, every month that has ended) of `currency`."""
    cohorts = [c for c in report.cohorts if c.revenue_per_customer.get(currency)]
    drawn = cohorts[-CHART_COHORTS:]
    largest = max((max(c.revenue_per_customer[currency]) for c in drawn), default=Decimal(0))
    top = _nice(largest)

    def x(month: int) -> float:
        return round(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * month / CLV_MONTHS, 2)

    def y(value: Decimal) -> int:
        share = float(value / top) if top else 0.0
        return round(PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * share)

    lines = []
    for index, cohort in enumerate(drawn):
        values = cohort.revenue_per_customer[currency]
        points = [Point(x(k), y(v), k, money(v, currency, store)) for k, v in enumerate(values)]
        segments = [Segment(a.x, a.y, b.x, b.y) for a, b in pairwise(points)]
        lines.append(
            Line(
                label=f"{cohort.month:%b %Y}",
                style=index % LINE_STYLES,
                segments=segments,
                points=points,
                label_y=points[-1].y,
                last_value=points[-1].value,
            )
        )
    lines = _spread_labels(lines)
    ticks = [Tick(y(top * k / 4), _tick(top * k / 4, currency, store)) for k in range(5)]
    months = [MonthTick(x(k), f"M{k}", k % 2 == 1) for k in range(CLV_MONTHS + 1)]
    described = "; ".join(
        f"{line.label}: " + ", ".join(f"month {p.month} {p.value}" for p in line.points)
        for line in lines
    )
    return CurrencyView(
        currency=currency,
        chart_id=f"cohorts-{currency.lower()}",
        description=described or "No cohort has a month that has ended yet.",
        lines=lines,
        ticks=ticks,
        months=months,
        rows=_heat_rows(report.cohorts, currency, store),
    )


def _spread_labels(lines: list[Line]) -> list[Line]:
    """Move the labels of lines that end close together apart, at least LABEL_GAP
    pixels, keeping their order from top to bottom."""
    order = sorted(range(len(lines)), key=lambda i: lines[i].label_y)
    placed: dict[int, int] = {}
    previous = None
    for i in order:
        wanted = lines[i].label_y
        at = wanted if previous is None else max(wanted, previous + LABEL_GAP)
        placed[i] = at
        previous = at
    overflow = max(0, (previous or 0) - (CHART_HEIGHT - 4))
    return [
        Line(
            label=line.label,
            style=line.style,
            segments=line.segments,
            points=line.points,
            label_y=placed[i] - overflow,
            last_value=line.last_value,
        )
        for i, line in enumerate(lines)
    ]


def _heat_rows(cohorts: list[Cohort], currency: str, store: Store) -> list[HeatRow]:
    """Every cohort with revenue in `currency`: customers, repeat rate and each month's
    cumulative revenue per customer, shaded by its share of the table's largest value."""
    shown = [c for c in cohorts if currency in c.revenue_per_customer]
    largest = max((v for c in shown for v in c.revenue_per_customer[currency]), default=Decimal(0))
    rows = []
    for cohort in shown:
        values = cohort.revenue_per_customer[currency]
        cells: list[HeatCell | None] = [
            HeatCell(
                money(v, currency, store),
                min(HEAT_LEVELS - 1, int((HEAT_LEVELS - 1) * v / largest)) if largest else 0,
            )
            for v in values
        ]
        cells += [None] * (CLV_MONTHS + 1 - len(values))
        rows.append(
            HeatRow(
                month=f"{cohort.month:%b %Y}",
                customers=f"{cohort.customers:,}",
                repeat="—"
                if cohort.repeat_rate_pct is None
                else f"{cohort.repeat_rate_pct:.1f} % "
                f"({cohort.repeated_within_12_months:,} of {cohort.measurable:,})",
                cells=cells,
            )
        )
    return rows


def _nice(value: Decimal) -> Decimal:
    """The top of the axis: four times the smallest step of 1, 2, 2.5 or 5 times a power
    of ten that reaches `value` in four steps (4 for 0)."""
    if value <= 0:
        return Decimal(4)
    quarter = value / 4
    power = Decimal(10) ** (quarter.adjusted())
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if quarter <= power * step:
            return 4 * power * step
    return 40 * power


def _tick(value: Decimal, currency: str, store: Store) -> str:
    """An axis label: whole units ("€40") unless the scale is small."""
    if value == value.to_integral_value():
        return str(
            format_currency(
                value, currency, locale=store.locale, format="¤#,##0", currency_digits=False
            )
        )
    return money(value, currency, store)
