"""The Repeat purchases page through Django's test client: the hand-computed store's
numbers on the tiles, in the cohort chart and in the heat-map table are the JSON's, for
all customers and for a range; a range that does not parse is said next to its field."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from aftersale.dashboard.reports import money
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.store_scenarios import NOW, generated_store, hand_computed_store
from aftersale.stores.models import Store
from aftersale.stores.services import add_member

pytestmark = pytest.mark.django_db


class Page(HTMLParser):
    """The texts of the page's data-stat elements, its cohort tables (currency ->
    cohort -> cell texts) and the cohort lines drawn (their labels)."""

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, str] = {}
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.lines: list[str] = []
        self._stat: str | None = None
        self._currency: str | None = None
        self._row: list[str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "data-stat" in named:
            self._stat = named["data-stat"] or ""
            self.stats[self._stat] = ""
        if tag == "table" and "data-currency" in named:
            self._currency = named["data-currency"] or ""
            self.tables[self._currency] = {}
        if tag == "tr" and self._currency and "data-cohort" in named:
            self._row = self.tables[self._currency].setdefault(named["data-cohort"] or "", [])
        if tag in ("td", "th") and self._row is not None:
            self._cell = ""
        if tag == "g" and "data-cohort" in named:
            self.lines.append(named["data-cohort"] or "")

    def handle_data(self, data: str) -> None:
        if self._stat is not None:
            self.stats[self._stat] += data
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "dd":
            self._stat = None
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr":
            self._row = None
        if tag == "table":
            self._currency = None


def _member(store: Store) -> Client:
    user = User.objects.create_user(username=f"owner-{store.slug}")
    add_member(store=store, user=user)
    client = Client()
    client.force_login(user)
    return client


def _json(store: Store, *args: str) -> dict:
    printed = io.StringIO()
    with use_clock(VirtualClock(NOW)):
        call_command("report", "--store", store.slug, *args, "--format", "json", stdout=printed)
    return json.loads(printed.getvalue())


def _read(client: Client, store: Store, query: str = "", **headers: str) -> tuple[int, Page]:
    with use_clock(VirtualClock(NOW)):
        answer = client.get(f"/dashboard/{store.slug}/report/{query}", headers=headers)
    page = Page()
    page.feed(answer.content.decode())
    return answer.status_code, page


def _expected_rows(report: dict, currency: str, store: Store) -> dict[str, list[str]]:
    rows = {}
    for cohort in report["cohorts"]:
        values = cohort["revenue_per_customer"].get(currency)
        if values is None:
            continue
        month = cohort["month"]
        label = f"{dt.date.fromisoformat(month + '-01'):%b %Y}"
        rate = (
            "—"
            if cohort["repeat_rate_pct"] is None
            else f"{cohort['repeat_rate_pct']:.1f} % "
            f"({cohort['repeated_within_12_months']} of {cohort['measurable']})"
        )
        cells = [money(Decimal(str(v)), currency, store) for v in values]
        rows[label] = [label, str(cohort["customers"]), rate, *cells, *[""] * (13 - len(cells))]
    return rows


def test_the_page_shows_the_hand_computed_numbers_the_json_has() -> None:
    store = hand_computed_store()
    report = _json(store)

    status, page = _read(_member(store), store)

    assert status == 200
    assert page.stats["repeat-rate"] == "57.1 % (4 of 7)"
    assert page.stats["median-days"] == "29.0 days"
    assert page.stats["customers"] == "12"
    for currency in ("EUR", "GBP"):
        assert page.tables[currency] == _expected_rows(report, currency, store)
    # January 2024 in EUR, cell by cell: 80.00, then 96.67 from month 1, 110.00 at 12.
    january = page.tables["EUR"]["Jan 2024"]
    euros = [money(Decimal(v), "EUR", store) for v in ("80.00", "96.67", "110.00")]
    assert january[3:5] == euros[:2] and january[-1] == euros[2]
    # A line per cohort with a month to show, in each currency's chart.
    assert page.lines == [
        *["Jan 2024", "Feb 2024", "Mar 2024", "Apr 2024", "Jan 2025"],
        *["Feb 2024", "Jan 2025"],
    ]


def test_the_benchmark_is_next_to_the_rate_with_how_far_above_it_is() -> None:
    store = hand_computed_store()

    with use_clock(VirtualClock(NOW)):
        html = _member(store).get(f"/dashboard/{store.slug}/report/").content.decode()

    assert "Benchmark 32 %: 25.1 points above it." in html
    assert "Benchmark (RJMetrics, seed 003)" in html and "32.0 %" in html


def test_a_range_shows_the_customers_whose_first_order_falls_in_it() -> None:
    store = hand_computed_store()
    report = _json(store, "--since", "2024-02-01", "--until", "2024-04-01")

    status, page = _read(_member(store), store, "?since=2024-02-01&until=2024-04-01")

    assert status == 200
    assert page.stats["repeat-rate"] == "75.0 % (3 of 4)"
    assert page.stats["customers"] == "5"
    assert page.tables["EUR"] == _expected_rows(report, "EUR", store)
    assert list(page.tables["EUR"]) == ["Feb 2024", "Mar 2024"]


def test_htmx_gets_the_panel_only() -> None:
    store = hand_computed_store()

    with use_clock(VirtualClock(NOW)):
        answer = _member(store).get(
            f"/dashboard/{store.slug}/report/?since=2024-02-01", headers={"HX-Request": "true"}
        )

    assert answer.status_code == 200
    assert b"<html" not in answer.content and b'data-stat="repeat-rate"' in answer.content


def test_a_range_that_does_not_parse_is_said_next_to_its_field_keeping_what_was_typed() -> None:
    store = hand_computed_store()

    with use_clock(VirtualClock(NOW)):
        answer = _member(store).get(
            f"/dashboard/{store.slug}/report/?since=2024-03-01&until=2024-02-01"
        )

    assert answer.status_code == 400
    html = answer.content.decode()
    assert 'id="until-error"' in html and 'value="2024-02-01"' in html


def test_a_store_with_no_orders_says_so_and_that_nothing_is_measurable_yet() -> None:
    start = NOW
    store = generated_store(slug="new-shop", customers=0, start=start, days=1, seed=1)

    status, page = _read(_member(store), store)

    assert status == 200
    assert page.stats["repeat-rate"] == "not measurable yet"
    assert page.stats["median-days"] == "none yet" and page.tables == {}


def test_another_merchants_store_answers_404(store: Store, merchant: User) -> None:
    other = hand_computed_store()
    client = Client()
    client.force_login(merchant)

    assert client.get(f"/dashboard/{other.slug}/report/").status_code == 404
    assert client.get(f"/dashboard/{store.slug}/report/").status_code == 200


def test_the_nav_links_the_page() -> None:
    store = hand_computed_store()

    with use_clock(VirtualClock(NOW)):
        html = _member(store).get(f"/dashboard/{store.slug}/coupons/").content.decode()

    assert f'href="/dashboard/{store.slug}/report/"' in html and "Repeat purchases" in html


def test_the_csv_has_a_row_per_cohort_and_currency_with_the_numbers_the_json_has() -> None:
    store = hand_computed_store()
    report = _json(store, "--since", "2024-01-01", "--until", "2025-01-01")

    with use_clock(VirtualClock(NOW)):
        answer = _member(store).get(
            f"/dashboard/{store.slug}/report.csv?since=2024-01-01&until=2025-01-01"
        )

    assert answer.status_code == 200
    assert answer["Content-Disposition"] == (
        'attachment; filename="paris-shop-cohorts-2024-01-01-to-2025-01-01.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    cohorts = [r for r in rows if r["row"] == "cohort"]
    expected = [
        (c["month"], currency, c["customers"], values)
        for currency in report["currencies"]
        for c in report["cohorts"]
        if (values := c["revenue_per_customer"].get(currency)) is not None
    ]
    assert [
        (
            r["cohort"],
            r["currency"],
            int(r["customers"]),
            [float(r[f"m{k}"]) for k in range(13) if r[f"m{k}"]],
        )
        for r in cohorts
    ] == expected
    january = next(r for r in cohorts if (r["cohort"], r["currency"]) == ("2024-01", "EUR"))
    assert (january["m0"], january["m1"], january["m12"]) == ("80.00", "96.67", "110.00")
    store_rows = [r for r in rows if r["row"] == "store"]
    assert [(r["currency"], r["repeat_rate_pct"]) for r in store_rows] == [
        ("EUR", "57.1"),
        ("GBP", "57.1"),
    ]


def test_the_page_links_the_csv_of_its_range() -> None:
    store = hand_computed_store()

    with use_clock(VirtualClock(NOW)):
        html = (
            _member(store).get(f"/dashboard/{store.slug}/report/?since=2024-02-01").content.decode()
        )

    assert f'href="/dashboard/{store.slug}/report.csv?since=2024-02-01"' in html
