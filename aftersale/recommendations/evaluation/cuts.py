"""Where to cut an order history for evaluation, chosen from the history itself: any
export, of any dates, gets a test window and a validation window just before it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aftersale.recommendations.evaluation.data import Orders

# A window needs this many customers with orders on both sides of its cut: fewer, and the
# bootstrap interval of a ratio says nothing.
MIN_CUSTOMERS = 30
WINDOW_DAYS = 60
_DAY = np.timedelta64(1, "D")


class NotEnoughHistory(ValueError):
    """Too few customers have orders on both sides of every cut tried; the message says
    what is missing."""


@dataclass(frozen=True)
class Cuts:
    """Fit before `validation_cut` and tune on [validation_cut, test_cut); refit before
    `test_cut` and score after it. `rule` says how the cut was chosen, the counts are
    the customers with orders on both sides of each cut (within its window)."""

    validation_cut: np.datetime64
    test_cut: np.datetime64
    rule: str
    test_customers: int
    validation_customers: int

    def describe(self) -> str:
        """One line for the log, e.g. "test from 2024-11-01 (the last 60 days, 312
        customers on both sides), validation from 2024-09-02 (280 customers)"."""
        return (
            f"test from {_day(self.test_cut)} ({self.rule}, {self.test_customers} customers "
            f"with orders on both sides), validation from {_day(self.validation_cut)} "
            f"({self.validation_customers} customers)"
        )


def customers_on_both_sides(
    *, orders: Orders, cut: np.datetime64, end: np.datetime64 | None = None
) -> int:
    """Customers with an order before `cut` and one in [cut, end) (to the end when None)."""
    after = orders.time >= cut
    if end is not None:
        after &= orders.time < end
    before = np.unique(orders.customer[orders.time < cut])
    return int(np.isin(np.unique(orders.customer[after]), before, assume_unique=True).sum())


def choose_cuts(*, orders: Orders, minimum: int = MIN_CUSTOMERS) -> Cuts:
    """The test window is the last 60 days or the last fifth of the orders, whichever
    holds more customers with orders on both sides of its cut; the validation window is
    one as long just before it (60 days, or the fifth of the orders before). Raises
    NotEnoughHistory, naming the counts, when either window has fewer than `minimum`."""
    if not len(orders):
        raise NotEnoughHistory("the history holds no order lines")
    tried = [_last_days(orders=orders), _last_fifth(orders=orders)]
    best = max(tried, key=lambda c: (c.test_customers, c.validation_customers))
    if min(best.test_customers, best.validation_customers) < minimum:
        raise NotEnoughHistory(_missing(orders=orders, tried=tried, minimum=minimum))
    return best


def given_cuts(
    *,
    orders: Orders,
    test_cut: np.datetime64,
    validation_cut: np.datetime64,
    minimum: int = MIN_CUSTOMERS,
) -> Cuts:
    """The cuts asked for, checked like chosen ones: NotEnoughHistory when either window
    has fewer than `minimum` customers with orders on both sides."""
    if validation_cut >= test_cut:
        raise NotEnoughHistory(
            f"the validation cut {_day(validation_cut)} must come before the test cut "
            f"{_day(test_cut)}"
        )
    cuts = _counted(orders=orders, test_cut=test_cut, validation_cut=validation_cut, rule="given")
    if min(cuts.test_customers, cuts.validation_customers) < minimum:
        raise NotEnoughHistory(_missing(orders=orders, tried=[cuts], minimum=minimum))
    return cuts


def resolve_cuts(
    *,
    orders: Orders,
    test_cut: np.datetime64 | None = None,
    validation_cut: np.datetime64 | None = None,
) -> Cuts:
    """The cuts given (the validation cut defaulting to one window before the test cut),
    or chosen from the orders when no test cut is given; checked either way (raises
    NotEnoughHistory)."""
    if test_cut is None:
        return choose_cuts(orders=orders)
    window = np.timedelta64(WINDOW_DAYS, "D")
    return given_cuts(
        orders=orders,
        test_cut=test_cut,
        validation_cut=validation_cut if validation_cut is not None else test_cut - window,
    )


def _last_days(*, orders: Orders) -> Cuts:
    window = np.timedelta64(WINDOW_DAYS, "D")
    last = orders.time.max()
    test_cut = (last - window).astype("datetime64[D]").astype("datetime64[s]")
    return _counted(
        orders=orders,
        test_cut=test_cut,
        validation_cut=test_cut - window,
        rule=f"the last {WINDOW_DAYS} days",
    )


def _last_fifth(*, orders: Orders) -> Cuts:
    # Each order placed once: its first line's time.
    _, first = np.unique(orders.order, return_index=True)
    placed = np.sort(orders.time[first])
    n = len(placed)
    test_cut = placed[min(int(n * 0.8), n - 1)]
    validation_cut = placed[min(int(n * 0.6), n - 1)]
    return _counted(
        orders=orders,
        test_cut=test_cut,
        validation_cut=validation_cut,
        rule="the last fifth of the orders",
    )


def _counted(
    *, orders: Orders, test_cut: np.datetime64, validation_cut: np.datetime64, rule: str
) -> Cuts:
    return Cuts(
        validation_cut=validation_cut,
        test_cut=test_cut,
        rule=rule,
        test_customers=customers_on_both_sides(orders=orders, cut=test_cut),
        validation_customers=customers_on_both_sides(
            orders=orders, cut=validation_cut, end=test_cut
        ),
    )


def _missing(*, orders: Orders, tried: list[Cuts], minimum: int) -> str:
    """What the history lacks, with the counts behind it."""
    _, per_customer = np.unique(
        np.unique(np.stack([orders.customer, orders.order], axis=1), axis=0)[:, 0],
        return_counts=True,
    )
    windows = "; ".join(
        f"{c.rule} (test from {_day(c.test_cut)}): {c.test_customers} in the test window, "
        f"{c.validation_customers} in the validation window from {_day(c.validation_cut)}"
        for c in tried
    )
    return (
        f"too few customers with orders on both sides of a cut to evaluate: at least "
        f"{minimum} are needed in the test window and in the validation window before it. "
        f"Found {windows}. The history holds {len(per_customer)} customers, of whom "
        f"{int((per_customer > 1).sum())} ordered more than once, in "
        f"{len(np.unique(orders.order))} orders from {_day(orders.time.min())} to "
        f"{_day(orders.time.max())}. A longer history, or more repeat customers, is needed."
    )


def _day(value: np.datetime64) -> str:
    return str(value.astype("datetime64[D]"))
