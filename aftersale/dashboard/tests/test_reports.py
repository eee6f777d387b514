"""The flow report page and its CSV through Django's test client: for the same date range
they show the numbers `aftersale report FLOW --format json` prints, on generated
histories of several shapes; a range that does not parse is said next to its field."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from babel.numbers import format_currency
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from aftersale.customers.records import CustomerRecord
from aftersale.dashboard.reports import CSV_COLUMNS
from aftersale.flows.backtest import run_backtest
from aftersale.flows.models import Flow
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, upsell_definition
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.models import Store
from aftersale.stores.services import add_member, create_store
from aftersale.tracking.services import record_click, record_open, unsubscribe_recipient

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def deliver_all(now: dt.datetime) -> int:
    """Stand in for SMTP delivery, which messaging's tests cover against a real server."""
    return Message.objects.filter(status=MessageStatus.QUEUED).update(
        status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
    )


def _order(store: Store, n: int, customer: str, at: dt.datetime, total: str, currency: str):
    record = OrderRecord(
        external_id=f"o{n}",
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=at,
        currency=currency,
        line_items=(LineItemRecord("mug", 1, Decimal(total), product_name="Mug"),),
    )
    ingest_orders(store=store, records=[record], now=at)


def generate_history(
    store: Store,
    *,
    customers: int,
    days: int,
    seed: int,
    currencies: tuple[str, ...] = ("USD",),
    buy_again: float = 0.4,
) -> tuple[Flow, dt.datetime]:
    """A live upsell flow backtested over `customers` first purchases spread over
    `days`, a share of them buying again (in one of `currencies`), then opens, clicks,
    bounces and unsubscribes on some of the emails sent. Returns the flow and the end."""
    rng = random.Random(seed)
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    n = 0
    for c in range(customers):
        first = T0 + dt.timedelta(hours=rng.randrange(days * 24))
        _order(store, n := n + 1, f"c{c}", first, f"{rng.randrange(10, 90)}.00", currencies[0])
        if rng.random() < buy_again:
            later = first + dt.timedelta(hours=rng.randrange(2, 12 * 24))
            total, currency = (
                f"{rng.randrange(5, 200)}.{rng.randrange(100):02d}",
                currencies[c % len(currencies)],
            )
            _order(store, n := n + 1, f"c{c}", later, total, currency)
    end = T0 + (days + 20) * DAY
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=end, clock=clock, deliver=deliver_all)
    for message in Message.objects.filter(flow=flow).select_related("customer"):
        roll = rng.random()
        if roll < 0.08:
            Message.objects.filter(pk=message.pk).update(status=MessageStatus.BOUNCED)
            continue
        if roll < 0.6:
            record_open(message=message, user_agent=BROWSER, now=end)
        if roll < 0.3:
            record_click(message=message, index=0, url="https://shop.example.com/", now=end)
        if roll > 0.97:
            unsubscribe_recipient(message=message, now=end)
    return flow, end


class Stats(HTMLParser):
    """The text of every element with data-stat, keyed by (data-step or None, stat)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str | None, str], str] = {}
        self.step: str | None = None
        self.open: tuple[str | None, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "data-step" in named:
            self.step = named["data-step"]
        if named.get("class", "") and "completed" in (named["class"] or "").split():
            self.step = None
        if "data-stat" in named:
            self.open = (self.step, named["data-stat"] or "")
            self.found[self.open] = ""

    def handle_data(self, data: str) -> None:
        if self.open:
            self.found[self.open] += data

    def handle_endtag(self, tag: str) -> None:
        self.open = None


def _rate(pct: float, count: int) -> str:
    return f"{pct:.1f} % ({count:,})"


def _command_json(flow: Flow, *args: str) -> dict:
    printed = io.StringIO()
    call_command(
        "report", flow.slug, "--store", flow.store.slug, *args, "--format", "json", stdout=printed
    )
    return json.loads(printed.getvalue())


def _range_args(since: str | None, until: str | None) -> tuple[list[str], dict[str, str]]:
    args, query = [], {}
    for name, value in (("since", since), ("until", until)):
        if value:
            args += [f"--{name}", value]
            query[name] = value
    return args, query


def assert_page_csv_and_json_agree(
    client: Client, flow: Flow, since: str | None, until: str | None
):
    """The page's tiles and step cards, the CSV's rows and the command's JSON hold the
    same numbers for the range [since, until)."""
    args, query = _range_args(since, until)
    report = _command_json(flow, *args)
    page = client.get(reverse("dashboard:flow-report", args=[flow.store.slug, flow.slug]), query)
    assert page.status_code == 200
    stats = Stats()
    stats.feed(page.content.decode())
    shown = stats.found

    assert shown[(None, "started")] == f"{report['started']:,}"
    for name in ("exited", "completed", "purchased"):
        assert shown[(None, name)] == _rate(report[f"{name}_pct"], report[name])
    # Every amount with its currency's code: a "$" alone could be another dollar.
    currency = report["currency"]
    revenue = (
        " + ".join(
            f"{format_currency(Decimal(str(v)), c, locale=flow.store.locale)} {c}"
            for c, v in report["revenue_by_currency"].items()
        )
        or f"{format_currency(0, currency, locale=flow.store.locale)} {currency}"
    )
    assert shown[(None, "revenue")] == revenue
    for step in report["steps"]:
        at = str(step["index"])
        assert shown[(at, "waiting")] == f"{step['waiting']:,}"
        assert shown[(at, "progressed")] == f"{step['progressed']:,}"
        if message := step["message"]:
            assert shown[(at, "sent")] == f"{message['sent']:,}"
            for name in ("delivered", "read", "replied", "bounced", "clicked", "unsubscribed"):
                assert shown[(at, name)] == _rate(message[f"{name}_pct"], message[name])
            assert shown[(at, "skipped")] == f"{message['skipped']:,}"
            for reason, n in message["skipped_by_reason"].items():
                assert shown[(at, f"skipped-{reason}")] == f"{n:,}"

    exported = client.get(
        reverse("dashboard:flow-report-csv", args=[flow.store.slug, flow.slug]), query
    )
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    steps = [row for row in rows if row["row"] == "step"]
    assert [int(row["progressed"]) for row in steps] == [s["progressed"] for s in report["steps"]]
    assert [int(row["waiting"]) for row in steps] == [s["waiting"] for s in report["steps"]]
    for row, step in zip(steps, report["steps"], strict=True):
        message = step["message"]
        for name in (
            "sent",
            "delivered",
            "read",
            "replied",
            "bounced",
            "clicked",
            "unsubscribed",
            "skipped",
            "moved_by_quiet_hours",
        ):
            assert row[name] == (str(message[name]) if message else "")
            if message and name not in ("sent", "skipped", "moved_by_quiet_hours"):
                assert float(row[f"{name}_pct"]) == message[f"{name}_pct"]
    (total,) = [row for row in rows if row["row"] == "total"]
    for name in ("started", "exited", "completed", "purchased", "orders", "overdue_at_entry"):
        assert int(total[name]) == report[name]
    for name in ("exited_pct", "completed_pct", "purchased_pct"):
        assert float(total[name]) == report[name]
    assert Decimal(total["revenue"]) == Decimal(str(report["revenue"])).quantize(Decimal("0.01"))
    assert int(total["sent"]) == sum(s["message"]["sent"] for s in report["steps"] if s["message"])
    others = {row["currency"]: float(row["revenue"]) for row in rows if row["row"] == "revenue"}
    assert others == {
        c: v for c, v in report["revenue_by_currency"].items() if c != report["currency"]
    }
    return report


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


def test_the_page_the_csv_and_the_command_agree_on_the_report_for_two_ranges_and_all_time(
    signed_in: Client, store: Store
) -> None:
    flow, end = generate_history(store, customers=40, days=40, seed=14)

    with use_clock(VirtualClock(end)):
        whole = assert_page_csv_and_json_agree(signed_in, flow, None, None)
        first = assert_page_csv_and_json_agree(signed_in, flow, "2024-03-04", "2024-03-24")
        second = assert_page_csv_and_json_agree(signed_in, flow, "2024-03-24", "2024-04-20")

    assert whole["started"] == 40 == first["started"] + second["started"]
    assert first["started"] > 0 and second["started"] > 0
    assert whole["purchased"] == first["purchased"] + second["purchased"]
    assert 0 < whole["revenue"] == pytest.approx(first["revenue"] + second["revenue"])
    assert any(s["message"] and s["message"]["read"] for s in whole["steps"])
    assert any(s["message"] and s["message"]["bounced"] for s in whole["steps"])


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ("tiny", {"customers": 1, "days": 1, "buy_again": 1.0}),
        ("sparse", {"customers": 6, "days": 300, "buy_again": 0.5}),
        ("two currencies", {"customers": 25, "days": 20, "currencies": ("EUR", "GBP")}),
    ],
)
def test_the_page_the_csv_and_the_command_agree_on_other_shapes_of_history(
    django_user_model: type[User], client: Client, shape: str, kwargs: dict
) -> None:
    store = create_store(name=f"{shape} shop", slug="other-shop", now=T0)
    if "currencies" in kwargs:
        Store.objects.filter(pk=store.pk).update(
            currency="EUR", locale="de_DE", time_zone="Europe/Berlin"
        )
        store.refresh_from_db()
    user = django_user_model.objects.create_user(username="owner", password="x")
    add_member(store=store, user=user)
    client.force_login(user)
    flow, end = generate_history(store, seed=len(shape), **kwargs)

    with use_clock(VirtualClock(end)):
        whole = assert_page_csv_and_json_agree(client, flow, None, None)
        assert_page_csv_and_json_agree(client, flow, "2024-03-10", None)
        assert_page_csv_and_json_agree(client, flow, None, "2024-03-10")

    assert whole["started"] == kwargs["customers"]
    if shape == "two currencies":
        assert set(whole["revenue_by_currency"]) == {"EUR", "GBP"}
        assert whole["revenue"] == whole["revenue_by_currency"]["EUR"]


def test_the_page_shows_the_flow_status_version_funnel_and_revenue_charts(
    signed_in: Client, store: Store
) -> None:
    flow, end = generate_history(store, customers=12, days=10, seed=3)

    with use_clock(VirtualClock(end)):
        page = signed_in.get(reverse("dashboard:flow-report", args=[store.slug, flow.slug]))

    html = page.content.decode()
    assert "data-flow-status>Live<" in html and "version 1" in html
    assert html.count('<svg class="bars"') == 2  # the funnel and the revenue of the one currency
    assert '<title id="funnel-title">Funnel</title>' in html
    assert "thank-you: sent" in html and "Purchased" in html
    assert "Revenue by day, USD" in html
    assert "style=" not in html and "<script>" not in html


def test_an_htmx_request_gets_the_report_panel_alone(signed_in: Client, store: Store) -> None:
    flow, _ = generate_history(store, customers=3, days=3, seed=1)

    panel = signed_in.get(
        reverse("dashboard:flow-report", args=[store.slug, flow.slug]),
        {"since": "2024-03-04"},
        headers={"HX-Request": "true"},
    )

    assert panel.status_code == 200
    assert "<html" not in panel.content.decode() and 'data-stat="started"' in panel.content.decode()


def test_a_range_that_does_not_parse_is_said_next_to_its_field_keeping_what_was_typed(
    signed_in: Client, store: Store
) -> None:
    flow, _ = generate_history(store, customers=2, days=2, seed=2)
    url = reverse("dashboard:flow-report", args=[store.slug, flow.slug])

    bad_day = signed_in.get(url, {"since": "2024-13-01", "until": "2024-04-01"})
    backwards = signed_in.get(url, {"since": "2024-04-01", "until": "2024-03-01"})
    csv_bad = signed_in.get(
        reverse("dashboard:flow-report-csv", args=[store.slug, flow.slug]), {"since": "nope"}
    )

    assert bad_day.status_code == 400
    assert 'id="since-error"' in bad_day.content.decode()
    assert 'value="2024-13-01"' in bad_day.content.decode()
    assert 'value="2024-04-01"' in bad_day.content.decode()
    assert 'id="until-error"' in backwards.content.decode()
    assert "Pick a day after the first day" in backwards.content.decode()
    assert csv_bad.status_code == 400


def test_the_csv_is_an_attachment_named_for_the_store_flow_and_range(
    signed_in: Client, store: Store
) -> None:
    flow, _ = generate_history(store, customers=2, days=2, seed=2)
    url = reverse("dashboard:flow-report-csv", args=[store.slug, flow.slug])

    dated = signed_in.get(url, {"since": "2024-03-01", "until": "2024-04-01"})
    whole = signed_in.get(url)

    assert dated["Content-Type"].startswith("text/csv")
    assert dated["Content-Disposition"] == (
        'attachment; filename="test-shop-upsell-report-2024-03-01-to-2024-04-01.csv"'
    )
    assert whole["Content-Disposition"] == 'attachment; filename="test-shop-upsell-report-all.csv"'
    header, *rows = list(csv.reader(io.StringIO(whole.content.decode())))
    assert tuple(header) == CSV_COLUMNS
    assert [row[0] for row in rows] == ["step"] * 6 + ["total"] + [
        "recipients",
        "holdout",
        "incremental_revenue",
        "incremental_revenue",
    ]


def test_another_stores_flow_report_and_csv_are_not_found(signed_in: Client, store: Store) -> None:
    other = create_store(name="Other", slug="other", now=T0)
    add_templates(other, T0, "thank-you", "offer", "reminder")
    install_flow(store=other, slug="upsell", definition=upsell_definition(), now=T0)

    assert (
        signed_in.get(reverse("dashboard:flow-report", args=["other", "upsell"])).status_code == 404
    )
    assert (
        signed_in.get(reverse("dashboard:flow-report-csv", args=["other", "upsell"])).status_code
        == 404
    )
    assert (
        signed_in.get(reverse("dashboard:flow-report", args=[store.slug, "nope"])).status_code
        == 404
    )


def test_a_flow_nobody_has_started_reads_as_zeros_with_no_purchases(
    signed_in: Client, store: Store
) -> None:
    add_templates(store, T0, "thank-you", "offer", "reminder")
    install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)

    page = signed_in.get(reverse("dashboard:flow-report", args=[store.slug, "upsell"]))

    stats = Stats()
    stats.feed(page.content.decode())
    assert page.status_code == 200
    assert stats.found[(None, "started")] == "0"
    assert stats.found[(None, "exited")] == "0.0 % (0)"
    assert stats.found[(None, "revenue")] == "$0.00 USD"
    assert "No purchases by customers in the flow in this range." in page.content.decode()
    assert "No journey has exited early." in page.content.decode()
