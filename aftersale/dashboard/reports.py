"""The flow report page (seed 001's automation report) and its CSV export: the numbers
`aftersale report FLOW --format json` prints for the same date range, drawn as tiles,
step cards, a funnel and revenue over time (server-side SVG)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from aftersale.dashboard.experiments import (
    EXPERIMENT_CSV_COLUMNS,
    experiment_csv_rows,
    experiment_panel,
)
from aftersale.dashboard.money import money
from aftersale.dashboard.views import HtmxRequest, _page, _store
from aftersale.flows.models import Flow
from aftersale.flows.selectors import flow_by_slug
from aftersale.lib import clock
from aftersale.reports.selectors import (
    DayRevenue,
    FlowReport,
    MessageStats,
    flow_report,
    report_range,
)
from aftersale.stores.models import Store

PRESETS = ((7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"))
MAX_ROWS = 31  # revenue over time: at most this many bars (days, else weeks, else months)


class RangeForm(forms.Form):
    """The journeys a report covers: started from `since` (included) to `until` (not
    included), days in the store's time zone; either may be left empty."""

    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        """Refuse an `until` that is not after `since`, naming the field."""
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", "Pick a day after the first day (this day is not included).")
        return data


@login_required
@require_GET
@vary_on_headers("HX-Request")
def flow_report_page(request: HtmxRequest, slug: str, flow: str) -> HttpResponse:
    """The report of one of the store's flows over the range the form picks (all
    journeys when it picks none); an htmx request gets only the report panel, a range
    that does not parse the form with its errors and what was typed."""
    store = _store(request, slug)
    found = _flow(store, flow)
    form = RangeForm(request.GET or None)
    report = _report(store, found, form)
    context = {
        "section": "automations",
        "store": store,
        "flow": found,
        "form": form,
        "report": report,
        "presets": _presets(store),
        "range_query": urlencode({k: request.GET[k] for k in form.fields if request.GET.get(k)}),
        "tiles": _tiles(report, store) if report else [],
        "funnel": funnel_chart(report) if report else None,
        "revenue_charts": revenue_charts(report, store) if report else [],
        "experiment": experiment_panel(report, store) if report else None,
    }
    status = 200 if report or request.htmx else 400
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "dashboard/reports/panel.html", context, status=status)
    response = _page(request, "dashboard/reports/flow_report.html", context)
    response.status_code = status
    return response


@login_required
@require_GET
def flow_report_csv(request: HttpRequest, slug: str, flow: str) -> HttpResponse:
    """The same report as CSV: one row per step (its message's numbers on it), then a
    totals row, then one row per other currency's revenue. 400 for a bad range."""
    store = _store(request, slug)
    found = _flow(store, flow)
    form = RangeForm(request.GET or None)
    report = _report(store, found, form)
    if report is None:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(store, report)}"'
    csv.writer(response).writerows(csv_rows(report))
    return response


def _flow(store: Store, slug: str) -> Flow:
    found = flow_by_slug(store=store, slug=slug)
    if found is None:
        raise Http404("this store has no such flow")
    return found


def _report(store: Store, flow: Flow, form: RangeForm) -> FlowReport | None:
    if form.is_bound and not form.is_valid():
        return None
    data = form.cleaned_data if form.is_bound else {}
    since, until = report_range(store=store, since=data.get("since"), until=data.get("until"))
    return flow_report(flow=flow, now=clock.now(), since=since, until=until)


def _today(store: Store) -> dt.date:
    return clock.now().astimezone(ZoneInfo(store.time_zone)).date()


def _presets(store: Store) -> list[tuple[str, str]]:
    """(label, query) of the ranges offered: the last N days including today, all time."""
    tomorrow = _today(store) + dt.timedelta(days=1)
    ranges = [
        (
            label,
            urlencode(
                {
                    "since": (tomorrow - dt.timedelta(days=days)).isoformat(),
                    "until": tomorrow.isoformat(),
                }
            ),
        )
        for days, label in PRESETS
    ]
    return [*ranges, ("All time", "")]


def revenue_text(by_currency: dict[str, Decimal], currency: str, store: Store) -> str:
    """Revenue in each currency it came in, never added across them: "€120.00 + £35.50"
    (zero in the store's `currency` when there is none)."""
    amounts = [money(v, c, store) for c, v in by_currency.items()]
    return " + ".join(amounts) or money(0, currency, store)


def rate(pct: float, count: int) -> str:
    """A rate with the count it is of, as seed 001's report shows it: "12.5 % (31)"."""
    return f"{pct:.1f} % ({count:,})"


def _tiles(report: FlowReport, store: Store) -> list[tuple[str, str, str]]:
    """(key, label, value) of the numbers at the top of the report."""
    revenue = revenue_text(report.revenue_by_currency, report.currency, store)
    return [
        ("started", "Started", f"{report.started:,}"),
        ("exited", "Exited", rate(report.exited_pct, report.exited)),
        ("completed", "Completed", rate(report.completed_pct, report.completed)),
        ("purchased", "Purchased", rate(report.purchased_pct, report.purchased)),
        ("revenue", "Revenue", revenue),
        (
            "attributed",
            "Attributed revenue",
            revenue_text(report.attributed_revenue_by_currency, report.currency, store)
            + f" ({report.attributed_orders:,} orders)",
        ),
    ]


@dataclass(frozen=True)
class Bar:
    """One bar of a chart drawn at any width: its label and value on a line (the value
    at the right end), the bar under them, `width` in percent of the drawing's width."""

    label: str
    value: str
    kind: str
    y: int
    width: float

    @property
    def bar_y(self) -> int:
        return self.y + 6


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    bars: list[Bar]

    @property
    def height(self) -> int:
        return len(self.bars) * ROW + 4


ROW = 40  # pixels of one bar with its line of text


def _bars(rows: Sequence[tuple[str, int | Decimal, str, str]]) -> list[Bar]:
    largest = max((float(value) for _, value, _, _ in rows), default=0.0) or 1.0
    return [
        Bar(
            label=label,
            value=shown,
            kind=kind,
            y=i * ROW + 15,
            width=max(round(100 * float(value) / largest, 2), 0.5) if value else 0.0,
        )
        for i, (label, value, shown, kind) in enumerate(rows)
    ]


def funnel_chart(report: FlowReport) -> Chart:
    """Started, then each message's sent, read and clicked, then purchased: each bar
    with its count and its share of those who started (in percent)."""

    def row(label: str, count: int, kind: str) -> tuple[str, int, str, str]:
        share = 100.0 * count / report.started if report.started else 0.0
        return (label, count, f"{count:,} ({share:.1f} %)", kind)

    rows = [row("Started", report.started, "started")]
    for step in report.steps:
        if step.message:
            name = step.message.template
            rows.append(row(f"{name}: sent", step.message.sent, "sent"))
            rows.append(row(f"{name}: read", step.message.read, "read"))
            rows.append(row(f"{name}: clicked", step.message.clicked, "clicked"))
    rows.append(row("Purchased", report.purchased, "purchased"))
    described = "; ".join(f"{label} {shown}" for label, _, shown, _ in rows)
    return Chart(title="Funnel", description=described, bars=_bars(rows))


def revenue_charts(report: FlowReport, store: Store) -> list[Chart]:
    """Revenue over time, one chart per currency: a bar per day, or per week (from
    Monday) or month when the range has more than 31 days or weeks."""
    charts = []
    for currency in report.revenue_by_currency:
        days = [d for d in report.revenue_by_day if d.currency == currency]
        first = report.since.astimezone(ZoneInfo(store.time_zone)).date() if report.since else None
        last = (
            (report.until.astimezone(ZoneInfo(store.time_zone)) - dt.timedelta(days=1)).date()
            if report.until
            else None
        )
        first = min(first or days[0].date, days[0].date)
        last = max(last or days[-1].date, days[-1].date)
        unit, buckets = _buckets(days, first, last)
        rows = [
            (
                label,
                revenue,
                f"{money(revenue, currency, store)} ({orders:,} order{'' if orders == 1 else 's'})",
                "revenue",
            )
            for label, revenue, orders in buckets
        ]
        described = "; ".join(f"{label}: {shown}" for label, _, shown, _ in rows)
        charts.append(Chart(f"Revenue by {unit}, {currency}", described, _bars(rows)))
    return charts


def _buckets(
    days: list[DayRevenue], first: dt.date, last: dt.date
) -> tuple[str, list[tuple[str, Decimal, int]]]:
    """Every day, week or month from `first` to `last` (at most MAX_ROWS of them) with
    its revenue and orders, empty ones included."""
    span = (last - first).days + 1

    def start(day: dt.date, unit: str) -> dt.date:
        if unit == "week":
            return day - dt.timedelta(days=day.weekday())
        if unit == "month":
            return day.replace(day=1)
        return day

    unit = "day" if span <= MAX_ROWS else "week" if span <= 7 * MAX_ROWS else "month"
    totals: dict[dt.date, tuple[Decimal, int]] = {}
    for day in days:
        key = start(day.date, unit)
        revenue, orders = totals.get(key, (Decimal("0"), 0))
        totals[key] = (revenue + day.revenue, orders + day.orders)
    keys, cursor = [], start(first, unit)
    while cursor <= last:
        keys.append(cursor)
        cursor = (
            cursor + dt.timedelta(days=7 if unit == "week" else 1)
            if unit != "month"
            else (cursor + dt.timedelta(days=32)).replace(day=1)
        )
    keys = keys[-MAX_ROWS:] if unit == "month" else keys
    label = {"day": "%a %-d %b %Y", "week": "week of %-d %b %Y", "month": "%B %Y"}[unit]
    return unit, [(key.strftime(label), *totals.get(key, (Decimal("0"), 0))) for key in keys]


CSV_COLUMNS = (
    "row",
    "step",
    "type",
    "label",
    "template",
    "waiting",
    "progressed",
    "sent",
    "delivered",
    "delivered_pct",
    "read",
    "read_pct",
    "replied",
    "replied_pct",
    "bounced",
    "bounced_pct",
    "clicked",
    "clicked_pct",
    "unsubscribed",
    "unsubscribed_pct",
    "skipped",
    "started",
    "exited",
    "exited_pct",
    "completed",
    "completed_pct",
    "purchased",
    "purchased_pct",
    "orders",
    "currency",
    "revenue",
    "attributed_orders",
    "attributed_revenue",
    "skipped_by_reason",
    "moved_by_quiet_hours",
    "overdue_at_entry",
    *EXPERIMENT_CSV_COLUMNS,
)
_MESSAGE_COLUMNS = CSV_COLUMNS[CSV_COLUMNS.index("sent") : CSV_COLUMNS.index("started")]
_FLOW_COLUMNS = CSV_COLUMNS[CSV_COLUMNS.index("started") : CSV_COLUMNS.index("revenue")]


def csv_rows(report: FlowReport) -> list[list[object]]:
    """The report as CSV rows under CSV_COLUMNS: a row per step (an email step's
    attributed orders and revenue in the store's currency), a "total" row (the flow's
    numbers, its messages' counts added up, revenue and attributed revenue in the store's
    currency), and a "revenue" row for each other currency."""
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    totals: dict[str, int] = dict.fromkeys(_MESSAGE_COLUMNS, 0)
    for step in report.steps:
        row: dict[str, object] = {
            "row": "step",
            "step": step.index,
            "type": step.type,
            "label": step.label,
            "waiting": step.waiting,
            "progressed": step.progressed,
        }
        if step.message:
            numbers = vars(step.message)
            row.update(
                {"template": step.message.template}, **{c: numbers[c] for c in _MESSAGE_COLUMNS}
            )
            row["attributed_orders"] = step.message.purchased
            row["attributed_revenue"] = f"{step.message.revenue:.2f}"
            row.update(_skip_columns(step.message))
            for column in _MESSAGE_COLUMNS:
                if not column.endswith("_pct"):
                    totals[column] += numbers[column]
        rows.append([row.get(column, "") for column in CSV_COLUMNS])
    for column in _MESSAGE_COLUMNS:
        if column.endswith("_pct"):
            part, sent = totals[column.removesuffix("_pct")], totals["sent"]
            totals[column] = round(100.0 * part / sent, 1) if sent else 0.0  # type: ignore[assignment]
    total = {
        "row": "total",
        **totals,
        **{name: getattr(report, name) for name in _FLOW_COLUMNS},
        "revenue": f"{report.revenue:.2f}",
        "attributed_orders": report.attributed_orders,
        "attributed_revenue": f"{report.attributed_revenue:.2f}",
        "overdue_at_entry": report.overdue_at_entry,
    }
    rows.append([total.get(column, "") for column in CSV_COLUMNS])
    others = (set(report.revenue_by_currency) | set(report.attributed_revenue_by_currency)) - {
        report.currency
    }
    for currency in sorted(others):
        other = {
            "row": "revenue",
            "currency": currency,
            "revenue": f"{report.revenue_by_currency.get(currency, 0):.2f}",
            "attributed_revenue": f"{report.attributed_revenue_by_currency.get(currency, 0):.2f}",
        }
        rows.append([other.get(column, "") for column in CSV_COLUMNS])
    return rows + experiment_csv_rows(report, CSV_COLUMNS)


def _skip_columns(message: MessageStats) -> dict[str, object]:
    """A message's skip reasons as "reason=n; ..." and its emails moved by quiet hours."""
    reasons = "; ".join(f"{r}={n}" for r, n in message.skipped_by_reason.items())
    return {"skipped_by_reason": reasons, "moved_by_quiet_hours": message.moved_by_quiet_hours}


def csv_filename(store: Store, report: FlowReport) -> str:
    """ "<store>-<flow>-report-<since>-<until>.csv", the range's days (or "all")."""
    zone = ZoneInfo(store.time_zone)
    since = f"{report.since.astimezone(zone):%Y-%m-%d}" if report.since else "start"
    until = f"{report.until.astimezone(zone):%Y-%m-%d}" if report.until else "now"
    span = "all" if not (report.since or report.until) else f"{since}-to-{until}"
    return f"{store.slug}-{report.flow}-report-{span}.csv"
