"""`aftersale report`: the table a person reads and the refusals of a bad range."""

import io
import re

import pytest
from django.core.management import CommandError, call_command

from aftersale.flows.backtest import run_backtest
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.reports.tests.test_selectors import (
    DAY,
    T0,
    _order_in,
    _three_buyers_a_week_apart,
    deliver_all,
)


def test_the_table_shows_each_rate_with_its_count_and_the_range(store):
    flow, clock = _three_buyers_a_week_apart(store)
    printed = io.StringIO()

    with use_clock(clock):
        call_command("report", flow.slug, "--since", "2024-03-11", stdout=printed)

    table = printed.getvalue()
    assert "journeys started from 2024-03-11" in table
    assert "100.0% (2)" in table  # bob and cat both exited on buying again
    assert "USD 80.00" in table and "Unsubscribed" in table


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "11/03/2024"], "is not a date"),
        (["--since", "2024-03-11", "--until", "2024-03-01"], "until must be a later date"),
    ],
)
def test_a_range_that_is_not_a_pair_of_dates_in_order_is_refused_saying_why(store, args, says):
    flow, _ = _three_buyers_a_week_apart(store)

    with pytest.raises(CommandError, match=says):
        call_command("report", flow.slug, *args, stdout=io.StringIO())


def test_every_amount_in_the_text_report_carries_its_currency_code(store):
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    place_order(store, order_id="a1", customer="ann", at=T0)
    place_order(store, order_id="a2", customer="ann", at=T0 + 2 * DAY, total="10.00")
    place_order(store, order_id="b1", customer="bob", at=T0)
    _order_in(store, order_id="b2", customer="bob", at=T0 + 2 * DAY, total="7.00", currency="EUR")
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 10 * DAY, clock=clock, deliver=deliver_all)
    printed = io.StringIO()

    with use_clock(clock):
        call_command("report", flow.slug, stdout=printed)

    table = printed.getvalue()
    assert "EUR 7.00" in table and "USD 10.00" in table  # never added, each with its code
    amounts = re.findall(r"(?<![\w.,])[\d,]+\.\d\d(?!\d)(?! days)", table)
    coded = re.findall(r"\b[A-Z]{3} [\d,]+\.\d\d", table)
    assert len(amounts) == len(coded) >= 2  # attributed amounts too: "USD 0.00"
