"""`aftersale report`: the table a person reads and the refusals of a bad range."""

import io

import pytest
from django.core.management import CommandError, call_command

from aftersale.lib.clock import use_clock
from aftersale.reports.tests.test_selectors import _three_buyers_a_week_apart


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
