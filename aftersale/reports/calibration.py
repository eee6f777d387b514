"""How we know the holdout numbers are honest: A/A calibration and a known effect.

A backtest's emails are read by nobody, so the flow's true effect on its journeys is
zero. Record a backtest with no holdout (every journey a recipient), then re-assign the
holdout salt after salt with the report's own hash (`flows.holdout.holdout_point`) and
estimate the incremental revenue with the report's own estimators
(`reports.statistics.compare_holdout`: the Poisson bootstrap on the revenue histograms,
CUPED on the moments of the report's covariates). An honest 95% interval covers zero in
about 95% of the salts. With `Engagement(p, q, value, seed)` the recipients a salt leaves
also get the extra orders the backtest option would add (flows.engagement, the same
draws), and the intervals must cover the injected incremental revenue, p * q * value
per recipient sent an email, as often.

The outcomes and covariates are the report's own per-journey rows
(`reports.experiments.journey_outcomes`), read once; each salt is NumPy on those arrays
and their `compare`, the report's comparison.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aftersale.flows.engagement import Engagement
from aftersale.flows.holdout import holdout_point
from aftersale.flows.models import Flow
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.messaging.models import Message, MessageStatus
from aftersale.reports import statistics as st
from aftersale.reports.experiments import JourneyOutcomes, journey_outcomes

HOLDOUT_PERCENT = 10.0


@dataclass(frozen=True)
class RecordedJourneys:
    """A flow's matured journeys as the report reads them (`outcomes`: customer, held
    out, revenue in the window, covariates, one entry per journey) and, aligned with
    them, whether the journey's customer was sent (or would have been sent) an email."""

    outcomes: JourneyOutcomes
    emailed: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.outcomes.customer_ids)

    @property
    def customer_ids(self) -> npt.NDArray[np.int64]:
        return self.outcomes.customer_ids

    @property
    def revenue(self) -> npt.NDArray[np.float64]:
        return self.outcomes.revenue

    @property
    def covariates(self) -> npt.NDArray[np.float64]:
        return self.outcomes.covariates


def recorded_journeys(*, flow: Flow, now: dt.datetime) -> RecordedJourneys:
    """The journeys of `flow` whose window ended by `now`, with the report's outcome and
    covariates (reports.experiments.journey_outcomes) and whether an email of the flow
    that was not skipped was queued for their customer."""
    definition = definition_of(latest_version(flow=flow).pk)
    outcomes = journey_outcomes(flow=flow, definition=definition, now=now)
    emailed = set(
        Message.objects.filter(flow=flow, enrollment__isnull=False)
        .exclude(status=MessageStatus.SKIPPED)
        .values_list("customer_id", flat=True)
    )
    return RecordedJourneys(
        outcomes=outcomes,
        emailed=np.array([int(c) in emailed for c in outcomes.customer_ids], dtype=np.bool_),
    )


@dataclass(frozen=True)
class SaltOutcome:
    """One re-assignment: its `truth` (the injected incremental revenue, 0 in an A/A),
    the group sizes and both estimates of the incremental revenue with 95% intervals."""

    salt: str
    truth: float
    recipients: int
    holdout: int
    bootstrap: st.Estimate
    cuped: st.Estimate


@dataclass(frozen=True)
class Calibration:
    """The outcomes of every salt and what they add up to."""

    outcomes: list[SaltOutcome]

    @property
    def salts(self) -> int:
        return len(self.outcomes)

    @property
    def coverage_bootstrap(self) -> float:
        """The share of salts whose bootstrap interval covers the truth."""
        return float(np.mean([o.bootstrap.covers(o.truth) for o in self.outcomes]))

    @property
    def coverage_cuped(self) -> float:
        """The share of salts whose CUPED interval covers the truth."""
        return float(np.mean([o.cuped.covers(o.truth) for o in self.outcomes]))

    @property
    def median_width_bootstrap(self) -> float:
        return statistics.median(o.bootstrap.width for o in self.outcomes)

    @property
    def median_width_cuped(self) -> float:
        return statistics.median(o.cuped.width for o in self.outcomes)

    @property
    def truth(self) -> float:
        """The mean injected incremental revenue over the salts."""
        return float(np.mean([o.truth for o in self.outcomes]))

    @property
    def mean_estimate(self) -> float:
        """The mean bootstrap (plain difference) estimate over the salts."""
        return float(np.mean([o.bootstrap.value for o in self.outcomes]))

    @property
    def mean_estimate_cuped(self) -> float:
        return float(np.mean([o.cuped.value for o in self.outcomes]))

    @property
    def mean_error_pct(self) -> float | None:
        """100 * (mean estimate - truth) / truth; None when the truth is zero."""
        truth = self.truth
        return 100 * (self.mean_estimate - truth) / truth if truth else None

    @property
    def cuped_width_reduction_pct(self) -> float:
        """How much narrower CUPED's median interval is than the bootstrap's, in %."""
        plain = self.median_width_bootstrap
        return 100 * (1 - self.median_width_cuped / plain) if plain else 0.0


def salt_names(count: int) -> list[str]:
    """`count` salts: "aa-0", "aa-1", ..."""
    return [f"aa-{i}" for i in range(count)]


def calibrate(
    *,
    journeys: RecordedJourneys,
    flow_id: int,
    salts: Sequence[str],
    percent: float = HOLDOUT_PERCENT,
    engagement: Engagement | None = None,
    on_salt: Callable[[SaltOutcome], None] | None = None,
) -> Calibration:
    """For each salt, hold out the journeys whose `holdout_point(flow_id, customer,
    salt)` is below `percent`/100 (what assignment at entry would have done with that
    salt), and estimate the incremental revenue as the report does (compare_holdout on
    the groups' histograms and moments). With `engagement`, salt i draws with seed
    `engagement.seed + i`, and each emailed recipient it draws as a buyer spends
    `engagement.value` more; the truth is then engagement.expected_value per emailed
    recipient. `on_salt` is told each outcome (a progress bar)."""
    points = {salt: _points(journeys.customer_ids, flow_id, salt) for salt in salts}
    outcomes = []
    for index, salt in enumerate(salts):
        held = points[salt] < percent / 100
        revenue, truth = journeys.revenue, 0.0
        if engagement is not None:
            draws = dataclasses.replace(engagement, seed=engagement.seed + index)
            revenue = revenue + _extra(journeys, draws, recipients=~held)
            truth = engagement.expected_value * int((journeys.emailed & ~held).sum())
        outcome = _estimate(journeys, revenue, held, salt=salt, truth=truth)
        outcomes.append(outcome)
        if on_salt is not None:
            on_salt(outcome)
    return Calibration(outcomes)


def _points(customer_ids: npt.NDArray[np.int64], flow_id: int, salt: str) -> npt.NDArray:
    return np.array(
        [holdout_point(flow_id=flow_id, customer_id=int(c), salt=salt) for c in customer_ids],
        dtype=np.float64,
    )


def _extra(
    journeys: RecordedJourneys, engagement: Engagement, *, recipients: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """The extra revenue `engagement` adds to each journey: its value for the emailed
    recipients it draws as buyers, 0 for everyone else."""
    buys = np.array(
        [engagement.buys(customer_id=int(c)) for c in journeys.customer_ids], dtype=np.bool_
    )
    return np.where(buys & journeys.emailed & recipients, float(engagement.value), 0.0)


def _estimate(
    journeys: RecordedJourneys,
    revenue: npt.NDArray[np.float64],
    held: npt.NDArray[np.bool_],
    *,
    salt: str,
    truth: float,
) -> SaltOutcome:
    """The report's comparison (JourneyOutcomes.compare) had `held` been the holdout
    and `revenue` the journeys' revenue."""
    comparison = dataclasses.replace(journeys.outcomes, revenue=revenue).compare(held)
    assert comparison.incremental_cuped is not None  # both groups' moments were given
    return SaltOutcome(
        salt=salt,
        truth=truth,
        recipients=int((~held).sum()),
        holdout=int(held.sum()),
        bootstrap=comparison.incremental,
        cuped=comparison.incremental_cuped,
    )
