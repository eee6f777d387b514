"""The orders in journeys, read once for the purchases and for the holdout's window."""

import datetime as dt
from decimal import Decimal

from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.reports.journey_orders import ExperimentWindow, journey_orders
from aftersale.reports.tests.test_experiments import DAY, T0, WINDOW, _enter, _flow, _orders


def _read(flow, *, now, window=True, since=None):
    return journey_orders(
        flow_id=flow.pk,
        now=now,
        since=since,
        until=None,
        zone="UTC",
        window=ExperimentWindow(matured_by=now - WINDOW, length=WINDOW, currency="USD")
        if window
        else None,
    )


def test_an_order_after_leaving_counts_in_the_window_but_not_as_a_purchase_in_the_flow(store):
    flow = _flow(store, percent=0)
    _enter(store, 2)
    Enrollment.objects.filter(customer__external_id="c0").update(
        state=EnrollmentState.EXITED, ended_at=T0 + DAY
    )
    _orders(store, [("a", "c0", T0 + 2 * DAY, "30.00"), ("b", "c1", T0 + 2 * DAY, "12.50")])

    orders = _read(flow, now=T0 + WINDOW + DAY)

    assert orders.buyers == 1  # c1, still in the flow when it bought
    assert [(row[1], Decimal(str(row[2])), row[3]) for row in orders.by_day] == [
        ("USD", Decimal("12.5"), 1)
    ]
    assert sorted((row[0], row[2], row[3]) for row in orders.window_buyers) == [
        (False, 12.5, 1),
        (False, 30.0, 1),
    ]


def test_another_currency_is_a_purchase_but_not_in_the_window(store):
    flow = _flow(store, percent=0)
    _enter(store, 1)
    _orders(store, [("eur", "c0", T0 + DAY, "70.00", "EUR")])

    orders = _read(flow, now=T0 + WINDOW + DAY)

    assert orders.buyers == 1
    assert [row[1] for row in orders.by_day] == ["EUR"]
    assert orders.window_buyers == []


def test_a_journey_still_maturing_or_orders_past_its_window_give_no_window_buyers(store):
    flow = _flow(store, percent=0)
    _enter(store, 1)
    _orders(store, [("late", "c0", T0 + WINDOW + DAY, "99.00")])

    assert _read(flow, now=T0 + 2 * DAY).window_buyers == []  # not matured yet
    assert _read(flow, now=T0 + WINDOW + 2 * DAY).window_buyers == []
    assert _read(flow, now=T0 + WINDOW + 2 * DAY).buyers == 1


def test_a_journey_summed_over_its_orders_and_grouped_with_its_covariates(store):
    flow = _flow(store, percent=0)
    _enter(store, 3, totals={0: "20.00", 1: "20.00", 2: "80.00"})
    _orders(
        store,
        [
            ("a1", "c0", T0 + DAY, "10.00"),
            ("a2", "c0", T0 + 2 * DAY, "15.00"),
            ("b1", "c1", T0 + DAY, "25.00"),
            ("c1", "c2", T0 + DAY, "25.00"),
        ],
    )

    orders = _read(flow, now=T0 + WINDOW + DAY)

    # c0 and c1 spent 25.00 in their windows, each with a trigger of 20.00; c2's trigger
    # was 80.00: one row per (holdout, variants, revenue) with the sums of covariates.
    assert sorted(orders.window_buyers) == [(False, "", 25.0, 3, 0.0, 0.0, 120.0)]
    assert orders.buyers == 3


def test_without_a_window_only_the_purchases_in_the_flow_are_read(store):
    flow = _flow(store, percent=0)
    _enter(store, 1)
    _orders(store, [("a", "c0", T0 + DAY, "10.00")])

    orders = _read(flow, now=T0 + WINDOW + DAY, window=False)

    assert orders.buyers == 1
    assert orders.window_buyers == []


def test_the_range_keeps_only_the_journeys_that_started_in_it(store):
    flow = _flow(store, percent=0)
    _enter(store, 1)
    _orders(store, [("a", "c0", T0 + DAY, "10.00")])

    later = _read(flow, now=T0 + WINDOW + DAY, since=T0 + dt.timedelta(hours=1))

    assert later.buyers == 0
    assert later.by_day == [] and later.window_buyers == []
