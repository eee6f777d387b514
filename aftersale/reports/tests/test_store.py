"""The store-level report (reports.store.store_report): the repeat-purchase rate within
12 months against seed 003's 32%, the median days to the second order and the cumulative
revenue per customer by first-order cohort month, on a hand-computed store and on
generated histories of other shapes."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from aftersale.orders.models import NOT_PURCHASES, Order
from aftersale.reports.selectors import report_range
from aftersale.reports.store import StoreReport, store_report
from aftersale.reports.tests.store_scenarios import (
    HAND_COHORTS,
    HAND_EXPECTED,
    NOW,
    generated_store,
    hand_computed_store,
)
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

pytestmark = pytest.mark.django_db


def test_the_hand_computed_store_gives_exactly_the_numbers_worked_out_by_hand() -> None:
    store = hand_computed_store()

    report = store_report(store=store, now=NOW).as_dict()

    assert {key: report[key] for key in HAND_EXPECTED} == HAND_EXPECTED
    assert report["cohorts"] == HAND_COHORTS
    assert report["currency"] == "EUR" and report["time_zone"] == "Europe/Paris"


def test_a_date_range_picks_the_customers_by_the_day_of_their_first_order() -> None:
    store = hand_computed_store()
    since, until = report_range(store=store, since=dt.date(2024, 2, 1), until=dt.date(2024, 4, 1))

    report = store_report(store=store, now=NOW, since=since, until=until)

    # February and March 2024: c4 c5 c6 c7 c8; measurable c4 c5 c6 c7, back within the
    # year c4 c5 c7; days to the second order 11 (c4), 29 (c5), 2 (c7).
    assert [f"{c.month:%Y-%m}" for c in report.cohorts] == ["2024-02", "2024-03"]
    assert (report.customers, report.measurable, report.maturing) == (5, 4, 1)
    assert (report.repeated_within_12_months, report.repeat_rate_pct) == (3, 75.0)
    assert report.median_days_to_second_order == 11.0


def test_a_cancelled_or_refunded_order_is_no_purchase_and_an_order_after_now_is_not_seen() -> None:
    store = hand_computed_store()
    report = store_report(store=store, now=NOW)

    january = report.cohorts[0]
    # c2's cancelled 500.00 would have made month 0 of January 740.00 / 3.
    assert january.revenue_per_customer["EUR"][0] == Decimal("80.00")
    # c6's refunded order would have made it a repeater.
    assert report.cohorts[1].repeat_customers == 2
    # c8's 999.00 of April 2025 lies after now.
    assert report.cohorts[2].revenue_per_customer["EUR"][-1] == Decimal("135.00")


def test_a_month_that_has_not_ended_shows_no_value() -> None:
    store = hand_computed_store()

    on_the_last_day = store_report(store=store, now=dt.datetime(2025, 3, 31, 21, 0, tzinfo=dt.UTC))
    once_it_ended = store_report(store=store, now=dt.datetime(2025, 3, 31, 23, 0, tzinfo=dt.UTC))

    # 31 March 23:00 UTC is 1 April 01:00 in Paris: March 2025 has ended.
    assert on_the_last_day.cohorts[-1].months_elapsed == 0
    assert once_it_ended.cohorts[-1].months_elapsed == 1
    assert once_it_ended.cohorts[-1].revenue_per_customer == {"EUR": [Decimal("65.00")]}


def test_a_store_with_no_orders_has_an_empty_report_that_says_nothing_is_measurable() -> None:
    store = create_store(name="Empty", slug="empty", now=NOW)

    report = store_report(store=store, now=NOW)

    assert (report.customers, report.measurable, report.repeat_rate_pct) == (0, 0, None)
    assert report.median_days_to_second_order is None and report.cohorts == []
    assert report.benchmark_pct == 32.0


def test_one_customer_with_one_order_is_one_cohort_of_one_not_yet_measurable() -> None:
    start = dt.datetime(2019, 6, 15, 12, tzinfo=dt.UTC)
    store = generated_store(slug="tiny", customers=1, start=start, days=1, seed=1, repeat=0.0)
    order = Order.objects.get(store=store)
    Order.objects.filter(pk=order.pk).update(status="placed", total=Decimal("42.00"))

    report = store_report(store=store, now=start + dt.timedelta(days=40))

    assert report.customers == 1 and report.maturing == 1 and report.repeat_rate_pct is None
    (cohort,) = report.cohorts
    assert cohort.month == dt.date(2019, 6, 1) and cohort.months_elapsed == 1
    assert cohort.revenue_per_customer == {"USD": [Decimal("42.00")]}


def test_a_store_where_nobody_comes_back_has_a_zero_rate_and_no_median() -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    store = generated_store(slug="sparse", customers=40, start=start, days=300, seed=3, repeat=0)

    report = store_report(store=store, now=start + dt.timedelta(days=800))

    assert report.repeat_customers == 0 and report.median_days_to_second_order is None
    assert report.measurable == report.customers > 0 and report.repeat_rate_pct == 0.0
    for cohort in report.cohorts:
        values = cohort.revenue_per_customer["USD"]
        assert values == [values[0]] * 13  # nothing after the first order


def _brute_force(store: Store, now: dt.datetime) -> dict[str, object]:
    """The same numbers from every order in Python, the slow obvious way."""
    zone = ZoneInfo(store.time_zone)
    orders = sorted(
        Order.objects.filter(store=store, placed_at__lt=now)
        .exclude(status__in=NOT_PURCHASES)
        .values_list("customer_id", "placed_at", "pk", "currency", "total"),
        key=lambda row: (row[0], row[1], row[2]),
    )
    by_customer: dict[int, list[tuple[dt.datetime, str, Decimal]]] = defaultdict(list)
    for customer, at, _, currency, total in orders:
        by_customer[customer].append((at, currency, total))
    year = dt.timedelta(days=365)
    measurable = [c for c in by_customer.values() if c[0][0] <= now - year]
    within = [c for c in measurable if len(c) > 1 and c[1][0] - c[0][0] <= year]
    gaps = sorted(
        (c[1][0] - c[0][0]).total_seconds() / 86400 for c in by_customer.values() if len(c) > 1
    )
    middle = len(gaps) // 2
    median = (
        None
        if not gaps
        else round(gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) / 2, 1)
    )

    def month(at: dt.datetime) -> int:
        local = at.astimezone(zone)
        return local.year * 12 + local.month - 1

    current = month(now)
    sizes: dict[int, int] = defaultdict(int)
    sums: dict[tuple[int, str, int], Decimal] = defaultdict(Decimal)
    for purchases in by_customer.values():
        cohort = month(purchases[0][0])
        sizes[cohort] += 1
        for at, currency, total in purchases:
            sums[cohort, currency, month(at) - cohort] += total
    cohorts = {}
    for cohort, size in sizes.items():
        shown = min(13, current - cohort)
        per: dict[str, list[Decimal]] = {}
        for currency in {c for (k, c, _) in sums if k == cohort}:
            running, values = Decimal(0), []
            for k in range(shown):
                running += sums.get((cohort, currency, k), Decimal(0))
                values.append((running / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
            per[currency] = values
        cohorts[cohort] = (size, per)
    return {
        "customers": len(by_customer),
        "measurable": len(measurable),
        "within": len(within),
        "median": median,
        "cohorts": cohorts,
    }


@pytest.mark.parametrize(
    ("shape", "kwargs", "now_after_days"),
    [
        ("other-years", {"start": dt.datetime(2009, 11, 20, tzinfo=dt.UTC), "days": 900}, 1200),
        (
            "two-currencies-new-york",
            {
                "start": dt.datetime(2021, 2, 27, tzinfo=dt.UTC),
                "days": 500,
                "currencies": ("USD", "CAD"),
                "time_zone": "America/New_York",
            },
            700,
        ),
        (
            "heavy-repeaters",
            {
                "start": dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
                "days": 60,
                "repeat": 0.9,
                "orders_per_repeater": 8,
            },
            420,
        ),
    ],
)
def test_generated_histories_agree_with_a_brute_force_count(
    shape: str, kwargs: dict[str, object], now_after_days: int
) -> None:
    store = generated_store(slug=shape, customers=300, seed=11, **kwargs)  # type: ignore[arg-type]
    start = kwargs["start"]
    assert isinstance(start, dt.datetime)
    now = start + dt.timedelta(days=now_after_days)

    report = store_report(store=store, now=now)
    expected = _brute_force(store, now)

    assert report.customers == expected["customers"]
    assert report.measurable == expected["measurable"]
    assert report.repeated_within_12_months == expected["within"]
    assert report.median_days_to_second_order == expected["median"]
    got = {
        c.month.year * 12 + c.month.month - 1: (c.customers, c.revenue_per_customer)
        for c in report.cohorts
    }
    assert got == expected["cohorts"]
    assert report.currencies[0] == store.currency


def test_the_report_reads_the_orders_in_one_statement_after_one_probe(
    django_assert_num_queries: object,
) -> None:
    store = hand_computed_store()

    with django_assert_num_queries(2):  # type: ignore[operator]
        report = store_report(store=store, now=NOW)

    assert isinstance(report, StoreReport)


def test_a_second_order_exactly_365_days_later_is_within_the_year_and_a_second_more_is_not() -> (
    None
):
    start = dt.datetime(2021, 5, 17, 8, 15, 30, 250000, tzinfo=dt.UTC)
    store = generated_store(slug="edge", customers=2, start=start, days=1, seed=5, repeat=0)
    ann, bob = Order.objects.filter(store=store).order_by("pk")
    Order.objects.filter(pk__in=[ann.pk, bob.pk]).update(status="placed", placed_at=start)
    year = dt.timedelta(days=365)
    for first, later in ((ann, year), (bob, year + dt.timedelta(seconds=1))):
        Order.objects.create(
            store=store,
            external_id=f"again-{first.pk}",
            customer_id=first.customer_id,
            total=Decimal("10.00"),
            placed_at=start + later,
        )

    report = store_report(store=store, now=start + 2 * year)

    assert (report.measurable, report.repeat_customers) == (2, 2)
    assert report.repeated_within_12_months == 1 and report.repeat_rate_pct == 50.0
