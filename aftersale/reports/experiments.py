"""What a flow caused: its recipients against its holdout, and its A/B variants.

Every journey is followed for the same **window** from entry, whether it was held out or
not: the orders its customer placed in (entered_at, entered_at + window], where the
window is the flow's longest wait (the sum of its delays, plus a week for a delay that
waits on to a weekday or an hour) and the attribution window after it (5 days). Only
journeys whose window has ended by `now` are compared; the others are "maturing" and
counted as such. Amounts are in the store's currency: orders in another currency are
left out of the comparison (never converted, never added).

The covariates are fixed on each journey at entry (flows.covariates: the spend and the
orders in the 90 days before entry and the trigger order's value). Two reads give the
rest, whatever the number of journeys: the matured journeys grouped by (holdout, A/B
variants taken, covariates), a scan of a covering index, and the journeys that bought
in their window grouped by (holdout, variants, revenue) with the sums of their
covariates, which reports.journey_orders reads with the flow report's purchases in one
join. Together they are the revenue histograms the bootstrap needs and the
moments CUPED needs; `reports.statistics` does the rest.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
)

from aftersale.flows.definition import ABSplitStep, DelayStep, FlowDefinition
from aftersale.flows.models import Enrollment, Flow
from aftersale.reports import statistics as st
from aftersale.reports.journey_orders import (
    COVARIATES,
    WINDOW_REVENUE,
    ExperimentWindow,
    entered_in,
    journey_orders,
    journey_orders_sql,
)
from aftersale.reports.selectors import journeys_in_range
from aftersale.reports.sql import column_of

AFTER_LAST_STEP = dt.timedelta(days=5)
# The most a delay that waits on "until a weekday at a time" adds to its fixed part.
_UNTIL_WEEKDAY = dt.timedelta(days=7)
_TOKEN = re.compile(r"(\d+):(\d+);")


def experiment_window(definition: FlowDefinition) -> dt.timedelta:
    """How long after entry a journey's orders count for the holdout comparison: the
    sum of every delay's fixed time (a week more for one that waits on to a weekday or
    an hour; a delay counted from delivery or a restock date by its fixed time or its
    fallback, whichever is longer), plus AFTER_LAST_STEP for the last email to act."""
    total = AFTER_LAST_STEP
    for step in definition.steps:
        if isinstance(step, DelayStep):
            total += max(step.duration, dt.timedelta(days=step.fallback_days_after_fulfilled or 0))
            if step.weekdays or step.at is not None:
                total += _UNTIL_WEEKDAY
    return total


@dataclass(frozen=True)
class _Group:
    """The journeys of one group with their revenue histogram and CUPED moments."""

    histogram: st.RevenueHistogram
    moments: st.Moments


def experiment_keys(
    *,
    flow: Flow,
    definition: FlowDefinition,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """The holdout and A/B keys of the flow report, for the journeys that entered in
    [since, until) and whose window (experiment_window) ended by `now`:

    - `holdout`, `recipients`: {customers, buyers, conversion (%), revenue_per_customer,
      maturing} of each group, plus the holdout's `percent` and the `window_days`;
    - `incremental_revenue` (recipients' minus holdout's revenue per customer, times the
      recipients) with `incremental_revenue_ci` [low, high], a 95% Poisson-bootstrap
      interval; `incremental_revenue_cuped` and `_cuped_ci`, the CUPED estimate with its
      normal interval, and `variance_reduction` (0-1) CUPED achieved;
    - `holdout_verdict`: what may be concluded, or that the groups are too small;
    - `variants`: per variant of each A/B split, its recipients, conversion, revenue per
      recipient with a bootstrap interval, the p-value of the two-proportion test
      against the first variant and the probability it converts best.

    Money in the store's currency, rounded to cents; None where there is nothing to
    estimate. Three statements, whatever the number of journeys."""
    scope = experiment_scope(flow=flow, definition=definition, now=now, since=since, until=until)
    orders = journey_orders(
        flow_id=flow.pk,
        now=now,
        since=since,
        until=until,
        zone=flow.store.time_zone,
        window=scope.window(),
    )
    return keys_of(
        scope=scope,
        definition=definition,
        matured=matured_journeys(scope),
        buyers=orders.window_buyers,
    )


def keys_of(
    *,
    scope: ExperimentScope,
    definition: FlowDefinition,
    matured: Matured,
    buyers: list[_Row],
) -> dict[str, Any]:
    """experiment_keys from what it reads: `matured` (matured_journeys(scope)) and `buyers`
    (reports.journey_orders's window_buyers for scope.window()), read side by side by
    the flow report."""
    journeys, maturing = matured.journeys, matured.maturing
    groups = {
        held: _group(
            [j for j in journeys if j.held_out == held], [b for b in buyers if b[0] == held]
        )
        for held in (False, True)
    }
    recipients, holdout = groups[False], groups[True]
    empty = not recipients.histogram.customers or not holdout.histogram.customers
    comparison = (
        None
        if empty
        else st.compare_holdout(
            recipients=recipients.histogram,
            holdout=holdout.histogram,
            recipients_moments=recipients.moments,
            holdout_moments=holdout.moments,
        )
    )
    return {
        "holdout": {
            "percent": definition.holdout_percent,
            "window_days": round(scope.length / dt.timedelta(days=1), 2),
            **_describe(holdout.histogram, maturing.get(True, 0)),
        },
        "recipients": _describe(recipients.histogram, maturing.get(False, 0)),
        **_estimates(comparison),
        "holdout_verdict": _verdict(definition, recipients, holdout, comparison, maturing),
        "variants": _variants(definition, _revenue_rows(journeys, buyers, held=False)),
    }


def _estimates(comparison: st.HoldoutComparison | None) -> dict[str, Any]:
    """The incremental revenue by both methods with their intervals (None: no estimate,
    as when a group is empty)."""
    incremental = comparison.incremental if comparison else None
    cuped = comparison.incremental_cuped if comparison else None
    reduction = comparison.cuped.variance_reduction if comparison and comparison.cuped else None
    return {
        "incremental_revenue": _cents(incremental.value) if incremental else None,
        "incremental_revenue_ci": _interval(incremental) if incremental else None,
        "incremental_revenue_cuped": _cents(cuped.value) if cuped else None,
        "incremental_revenue_cuped_ci": _interval(cuped) if cuped else None,
        "variance_reduction": None if reduction is None else round(reduction, 3),
    }


def _describe(histogram: st.RevenueHistogram, maturing: int) -> dict[str, Any]:
    return {
        "customers": histogram.customers,
        "buyers": histogram.buyers,
        "conversion": round(100 * histogram.conversion, 1),
        "revenue_per_customer": _cents(histogram.mean),
        "maturing": maturing,
    }


def _verdict(
    definition: FlowDefinition,
    recipients: _Group,
    holdout: _Group,
    comparison: st.HoldoutComparison | None,
    maturing: dict[bool, int],
) -> str:
    if definition.holdout_percent == 0 and not holdout.histogram.customers:
        return "No holdout: this flow sends to everyone, so what it caused cannot be measured."
    verdict = (
        comparison.verdict
        if comparison
        else st.too_small(holdout=holdout.histogram, recipients=recipients.histogram) or ""
    )
    if sum(maturing.values()):
        verdict += f" {sum(maturing.values())} journeys are still inside their window."
    return verdict


def _cents(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def _interval(estimate: st.Estimate) -> list[float | None]:
    return [_cents(estimate.low), _cents(estimate.high)]


# Rows of the buyers (reports.journey_orders): (holdout, ab_variants, revenue, journeys,
# the sums of their covariates (k)).
_Row = tuple[Any, ...]


def _group(journeys: list[JourneyGroup], buyers: list[_Row]) -> _Group:
    """One group's revenue histogram and CUPED moments: everyone's covariates from
    `journeys`, the revenue (zero but for `buyers`) and its products with them from
    `buyers`."""
    k = len(COVARIATES)
    y = np.array([float(row[2]) for row in buyers], dtype=np.float64)
    n_y = np.array([row[3] for row in buyers], dtype=np.float64)
    sums_x = np.array([[float(v or 0) for v in row[4 : 4 + k]] for row in buyers]).reshape(-1, k)
    customers = sum(group.journeys for group in journeys)
    moments = st.Moments(
        n=customers,
        sum_y=float(y @ n_y),
        sum_yy=float((y * y) @ n_y),
        sum_x=sum((group.sum_x for group in journeys), np.zeros(k)),
        sum_xx=sum((group.sum_xx for group in journeys), np.zeros((k, k))),
        sum_xy=y @ sums_x,
    )
    pairs = [*zip(y, n_y.astype(np.int64), strict=True), (0.0, customers - int(n_y.sum()))]
    return _Group(st.RevenueHistogram.from_pairs(pairs), moments)


def _revenue_rows(journeys: list[JourneyGroup], buyers: list[_Row], *, held: bool) -> list[_Row]:
    """(holdout, ab_variants, revenue, journeys) of the group `held`: the buyers' rows,
    and per variants taken the journeys that bought nothing."""
    zeros: dict[str, int] = defaultdict(int)
    for group in journeys:
        if group.held_out == held:
            zeros[group.variants] += group.journeys
    rows = []
    for row in buyers:
        if row[0] == held:
            zeros[row[1]] -= row[3]
            rows.append(row[:4])
    return rows + [(held, variants, 0.0, n) for variants, n in zeros.items() if n]


def _variants(definition: FlowDefinition, rows: list[_Row]) -> list[dict[str, Any]]:
    """Per variant of each A/B split, among recipients (the holdout gets no variant's
    email): what the docstring of experiment_keys lists."""
    splits = [(i, s) for i, s in enumerate(definition.steps) if isinstance(s, ABSplitStep)]
    if not splits:
        return []
    taken: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for row in rows:
        for step, variant in _TOKEN.findall(row[1] or ""):
            taken[(int(step), int(variant))].append((float(row[2] or 0), int(row[3])))
    result = []
    for index, split in splits:
        histograms = [
            st.RevenueHistogram.from_pairs(taken.get((index, v), []))
            for v in range(len(split.variants))
        ]
        best = st.probability_best(
            successes=[h.buyers for h in histograms], trials=[h.customers for h in histograms]
        )
        enough = all(h.customers >= st.MIN_VARIANT_RECIPIENTS for h in histograms)
        first = histograms[0]
        for number, (variant, hist) in enumerate(zip(split.variants, histograms, strict=True)):
            interval = st.bootstrap_mean(hist, seed=st.SEED + number) if hist.customers else None
            result.append(
                {
                    "step": index,
                    "variant": chr(ord("A") + number) if number < 26 else str(number + 1),
                    "weight": variant.weight,
                    "recipients": hist.customers,
                    "buyers": hist.buyers,
                    "conversion": round(100 * hist.conversion, 1),
                    "revenue_per_recipient": _cents(hist.mean),
                    "revenue_per_recipient_ci": _interval(interval) if interval else None,
                    "p_value": None
                    if number == 0
                    else round(
                        st.two_proportion_z_test(
                            successes_a=hist.buyers,
                            n_a=hist.customers,
                            successes_b=first.buyers,
                            n_b=first.customers,
                        ),
                        4,
                    ),
                    "probability_best": round(best[number], 3),
                    "verdict": ""
                    if enough
                    else f"Not enough data yet: each variant needs at least "
                    f"{st.MIN_VARIANT_RECIPIENTS} recipients whose window has ended.",
                }
            )
    return result


@dataclass(frozen=True)
class ExperimentScope:
    """The journeys compared: of `flow`, entered in [since, until), each followed for
    `length` (experiment_window) and compared once that has ended by `now`."""

    flow: Flow
    now: dt.datetime
    since: dt.datetime | None
    until: dt.datetime | None
    length: dt.timedelta

    def journeys(self) -> QuerySet[Enrollment]:
        """The flow's journeys in range, matured or not."""
        return journeys_in_range(flow=self.flow, since=self.since, until=self.until)

    def window(self) -> ExperimentWindow:
        """The window reports.journey_orders reads the journeys' orders in."""
        return ExperimentWindow(
            matured_by=self.now - self.length, length=self.length, currency=self.flow.store.currency
        )


def experiment_scope(
    *,
    flow: Flow,
    definition: FlowDefinition,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> ExperimentScope:
    """The journeys experiment_keys compares, for `definition` (the flow's latest)."""
    return ExperimentScope(
        flow=flow, now=now, since=since, until=until, length=experiment_window(definition)
    )


@dataclass(frozen=True)
class JourneyGroup:
    """The matured journeys of one holdout group that took the same A/B variants: their
    number and the sums of their covariates (k) and of the covariates' products (k, k)."""

    held_out: bool
    variants: str
    journeys: int
    sum_x: st.FloatArray
    sum_xx: st.FloatArray


@dataclass(frozen=True)
class Matured:
    """The matured journeys in groups, and how many journeys, held out or not, are
    still maturing."""

    journeys: list[JourneyGroup]
    maturing: dict[bool, int]


def matured_journeys(scope: ExperimentScope) -> Matured:
    """The scope's journeys as Matured says: one statement, a scan of the covering index
    enrollment_experiment, whose rows are as many as the groups, not the journeys."""
    k = len(COVARIATES)
    pairs = [(a, b) for a in range(k) for b in range(a, k)]
    products = {
        f"p{a}{b}": Sum(F(COVARIATES[a]) * F(COVARIATES[b]), output_field=FloatField())
        for a, b in pairs
    }
    rows = (
        scope.journeys()
        .annotate(
            matured=ExpressionWrapper(
                Q(entered_at__lte=scope.now - scope.length), output_field=BooleanField()
            )
        )
        .values_list("holdout", "ab_variants", "matured")
        .annotate(
            n=Count("*"),
            **{f"s{i}": Sum(name, output_field=FloatField()) for i, name in enumerate(COVARIATES)},
            **products,
        )
        .order_by()
    )
    groups: list[JourneyGroup] = []
    maturing: dict[bool, int] = defaultdict(int)
    for held, variants, is_matured, n, *sums in rows:
        if not is_matured:
            maturing[bool(held)] += n
            continue
        sum_xx = np.zeros((k, k))
        for (a, b), total in zip(pairs, sums[k:], strict=True):
            sum_xx[a, b] = sum_xx[b, a] = float(total or 0)
        sum_x = np.array([float(v or 0) for v in sums[:k]])
        groups.append(JourneyGroup(bool(held), variants, n, sum_x, sum_xx))
    return Matured(journeys=groups, maturing=dict(maturing))


@dataclass(frozen=True)
class JourneyOutcomes:
    """Every matured journey of a flow as arrays, one entry per journey: its customer,
    whether it was held out, its revenue in the window and its covariates (n, k). For
    re-assigning the holdout with other salts (the A/A calibration) without reading
    the database again; a report never needs it."""

    customer_ids: npt.NDArray[np.int64]
    held_out: npt.NDArray[np.bool_]
    revenue: st.FloatArray
    covariates: st.FloatArray

    def compare(
        self, held_out: npt.NDArray[np.bool_], *, seed: int = st.SEED
    ) -> st.HoldoutComparison:
        """The holdout comparison (bootstrap and CUPED) had `held_out` been the holdout."""
        sent = ~held_out
        return st.compare_holdout(
            recipients=st.RevenueHistogram.from_values(self.revenue[sent]),
            holdout=st.RevenueHistogram.from_values(self.revenue[held_out]),
            recipients_moments=st.Moments.from_arrays(self.revenue[sent], self.covariates[sent]),
            holdout_moments=st.Moments.from_arrays(
                self.revenue[held_out], self.covariates[held_out]
            ),
            seed=seed,
        )


def journey_outcomes(
    *,
    flow: Flow,
    definition: FlowDefinition,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> JourneyOutcomes:
    """The matured journeys of `flow` (entered in [since, until), window ended by `now`)
    one by one, as experiment_keys counts them: one statement, one row per journey (so
    for the calibration of a backtest, not for a report of a million journeys)."""
    scope = experiment_scope(flow=flow, definition=definition, now=now, since=since, until=until)
    window = scope.window()
    sql, params = journey_orders_sql(
        flow_ids=[flow.pk], now=now, since=since, until=until, zone="UTC", window=window
    )
    e = {
        f: "e." + column_of(Enrollment, f)
        for f in ("id", "flow", "entered_at", "customer", "holdout", *COVARIATES)
    }
    in_range, range_params = entered_in(e["entered_at"], since=since, until=until)
    conditions = [f"{e['flow']} = %s", f"{e['entered_at']} <= %s", *in_range]
    params += [flow.pk, connection.ops.adapt_datetimefield_value(window.matured_by)]
    params += range_params
    xs = ", ".join(e[name] for name in COVARIATES)
    sql += (
        f" SELECT {e['customer']}, {e['holdout']}, COALESCE(w.y, 0), {xs} "
        f"FROM {Enrollment._meta.db_table} e LEFT JOIN ({WINDOW_REVENUE}) w "
        f"ON w.journey = {e['id']} WHERE {' AND '.join(conditions)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    k = len(COVARIATES)
    return JourneyOutcomes(
        customer_ids=np.array([row[0] for row in rows], dtype=np.int64),
        held_out=np.array([bool(row[1]) for row in rows], dtype=np.bool_),
        revenue=np.array([float(row[2] or 0) for row in rows], dtype=np.float64),
        covariates=np.array(
            [[float(v or 0) for v in row[3:]] for row in rows], dtype=np.float64
        ).reshape(len(rows), k),
    )
