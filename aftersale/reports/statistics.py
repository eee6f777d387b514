"""The statistics of holdouts and A/B tests, on numbers SQL has already aggregated.

Pure functions of NumPy arrays (no Django, no database), so the report, the A/A
calibration and the tests call the same code:

- `RevenueHistogram`: one group's revenue per customer as its distinct values and how
  many customers had each (what `GROUP BY holdout, revenue` returns). The **Poisson
  bootstrap** resamples it without ever expanding it to one row per customer: the sum
  of c independent Poisson(1) weights is Poisson(c), so a value held by c customers gets
  one Poisson(c) weight per resample. A million customers cost as much as their distinct
  values; more than `MAX_DISTINCT` distinct values are first merged into bins at most
  1% wide (each bin keeps the exact mean of its values, so every group mean is exact).
- `Moments`: the sufficient statistics (n, ΣY, ΣX, ΣY², ΣXXᵀ, ΣXY) one SQL aggregate gives
  per group, from which `cuped_difference` computes the CUPED estimate (Deng, Xu, Kohavi
  and Walker, WSDM 2013) with several pre-entry covariates: Y - θ·(X - X̄), θ from the
  pooled within-group covariance, and a normal interval from the adjusted variance.
- `two_proportion_z_test` and `probability_best` for the variants of an A/B split.

Every random draw comes from a seeded generator, so a report is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Below these a comparison is "too small to conclude": fewer holdout customers than
# MIN_HOLDOUT_CUSTOMERS, or fewer buyers than MIN_BUYERS in either group.
MIN_HOLDOUT_CUSTOMERS = 100
MIN_BUYERS = 10
# An A/B split says "not enough data yet" while any variant has fewer recipients.
MIN_VARIANT_RECIPIENTS = 100
MAX_DISTINCT = 2000
BIN_WIDTH = 0.01
RESAMPLES = 2000
LEVEL = 0.95
SEED = 15


@dataclass(frozen=True)
class RevenueHistogram:
    """One group's revenue per customer: distinct `values` and how many customers had
    each (`counts`, all positive). Customers who bought nothing are the value 0."""

    values: FloatArray
    counts: IntArray

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[float | Decimal | int, int]]) -> RevenueHistogram:
        """The histogram of (value, count) rows, as `GROUP BY revenue` returns them; the
        same value twice is added up, counts of zero are dropped."""
        rows = [(float(value), int(count)) for value, count in pairs if count]
        if not rows:
            return cls(np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64))
        values = np.array([value for value, _ in rows], dtype=np.float64)
        counts = np.array([count for _, count in rows], dtype=np.int64)
        distinct, inverse = np.unique(values, return_inverse=True)
        return cls(distinct, np.bincount(inverse, weights=counts).astype(np.int64))

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> RevenueHistogram:
        """The histogram of one value per customer."""
        distinct, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
        return cls(distinct, counts.astype(np.int64))

    @property
    def customers(self) -> int:
        return int(self.counts.sum())

    @property
    def buyers(self) -> int:
        """Customers whose revenue is not zero."""
        return int(self.counts[self.values != 0].sum())

    @property
    def total(self) -> float:
        return float(self.counts @ self.values)

    @property
    def mean(self) -> float:
        """Revenue per customer (0.0 for an empty group)."""
        customers = self.customers
        return self.total / customers if customers else 0.0

    @property
    def conversion(self) -> float:
        """The share of customers who bought (0.0 for an empty group)."""
        customers = self.customers
        return self.buyers / customers if customers else 0.0

    def compressed(self, *, max_distinct: int = MAX_DISTINCT) -> RevenueHistogram:
        """At most about `max_distinct` values: above that, values are merged into bins
        of relative width `BIN_WIDTH` on a log scale (zero stays zero, signs apart),
        each bin holding its customers' exact mean, so the group's mean and count are
        unchanged and its spread changes by far less than a percent."""
        if len(self.values) <= max_distinct:
            return self
        magnitude = np.abs(self.values)
        keys = np.zeros(len(self.values), dtype=np.int64)
        nonzero = magnitude > 0
        keys[nonzero] = (np.floor(np.log(magnitude[nonzero]) / math.log1p(BIN_WIDTH)) + 1).astype(
            np.int64
        ) * 2 + (self.values[nonzero] < 0)
        _, inverse = np.unique(keys, return_inverse=True)
        counts = np.bincount(inverse, weights=self.counts)
        sums = np.bincount(inverse, weights=self.counts * self.values)
        return RevenueHistogram(sums / counts, counts.astype(np.int64))


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its `level` interval [low, high]."""

    value: float
    low: float
    high: float

    def scaled(self, factor: float) -> Estimate:
        """The same estimate multiplied by a positive `factor` (a mean difference times
        the recipients is the incremental revenue)."""
        return Estimate(self.value * factor, self.low * factor, self.high * factor)

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low


def _bootstrap_means(
    group: RevenueHistogram, *, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """`resamples` Poisson-bootstrap means of `group` (NaN where a resample is empty)."""
    group = group.compressed()
    weights = rng.poisson(group.counts.astype(np.float64), size=(resamples, len(group.counts)))
    totals = weights.sum(axis=1)
    sums = weights @ group.values
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, sums / np.maximum(totals, 1), np.nan)


def _percentile_interval(draws: FloatArray, *, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    if np.all(np.isnan(draws)):
        return (math.nan, math.nan)
    low, high = np.nanpercentile(draws, [tail, 100.0 - tail])
    return (float(low), float(high))


def bootstrap_mean(
    group: RevenueHistogram,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Estimate:
    """The group's mean with a `level` Poisson-bootstrap percentile interval; the same
    seed gives the same interval."""
    draws = _bootstrap_means(group, resamples=resamples, rng=np.random.default_rng(seed))
    low, high = _percentile_interval(draws, level=level)
    return Estimate(group.mean, low, high)


def bootstrap_difference(
    *,
    treated: RevenueHistogram,
    control: RevenueHistogram,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Estimate:
    """mean(treated) - mean(control) with a `level` percentile interval from
    `resamples` independent Poisson-bootstrap resamples of each group (seeded: the same
    inputs and seed give the same interval)."""
    treated_rng, control_rng = np.random.default_rng(seed).spawn(2)
    draws = _bootstrap_means(treated, resamples=resamples, rng=treated_rng) - _bootstrap_means(
        control, resamples=resamples, rng=control_rng
    )
    low, high = _percentile_interval(draws, level=level)
    return Estimate(treated.mean - control.mean, low, high)


@dataclass(frozen=True)
class Moments:
    """The sufficient statistics of one group for CUPED: n customers, outcome Y (revenue
    in the window), k pre-entry covariates X (e.g. spend and orders in the 90 days before
    entry, the trigger order's value). `sum_x`, `sum_xy` have shape (k,), `sum_xx` (k, k)."""

    n: int
    sum_y: float
    sum_yy: float
    sum_x: FloatArray
    sum_xx: FloatArray
    sum_xy: FloatArray

    @classmethod
    def from_arrays(cls, y: npt.ArrayLike, x: npt.ArrayLike) -> Moments:
        """The moments of outcomes `y` (n,) and covariates `x` (n, k) or (n,)."""
        ys = np.asarray(y, dtype=np.float64)
        xs = np.asarray(x, dtype=np.float64).reshape(len(ys), -1)
        return cls(
            n=len(ys),
            sum_y=float(ys.sum()),
            sum_yy=float(ys @ ys),
            sum_x=xs.sum(axis=0),
            sum_xx=xs.T @ xs,
            sum_xy=xs.T @ ys,
        )

    @classmethod
    def from_sums(
        cls,
        *,
        n: int,
        sum_y: float | Decimal,
        sum_yy: float | Decimal,
        sum_x: Sequence[float | Decimal],
        sum_xx: Sequence[Sequence[float | Decimal]],
        sum_xy: Sequence[float | Decimal],
    ) -> Moments:
        """The moments from the sums a SQL aggregate returned (None counts as 0)."""

        def floats(values: Sequence[float | Decimal | None]) -> FloatArray:
            return np.array([float(v or 0) for v in values], dtype=np.float64)

        return cls(
            n=int(n),
            sum_y=float(sum_y or 0),
            sum_yy=float(sum_yy or 0),
            sum_x=floats(sum_x),
            sum_xx=np.array([floats(row) for row in sum_xx], dtype=np.float64).reshape(
                len(sum_x), len(sum_x)
            ),
            sum_xy=floats(sum_xy),
        )

    @property
    def mean_y(self) -> float:
        return self.sum_y / self.n if self.n else 0.0

    @property
    def mean_x(self) -> FloatArray:
        return self.sum_x / self.n if self.n else np.zeros_like(self.sum_x)

    def centred(self) -> tuple[float, FloatArray, FloatArray]:
        """Σ(Y-Ȳ)², Σ(X-X̄)(X-X̄)ᵀ and Σ(X-X̄)(Y-Ȳ) of this group."""
        if not self.n:
            k = len(self.sum_x)
            return 0.0, np.zeros((k, k)), np.zeros(k)
        syy = self.sum_yy - self.sum_y**2 / self.n
        sxx = self.sum_xx - np.outer(self.sum_x, self.sum_x) / self.n
        sxy = self.sum_xy - self.sum_x * self.sum_y / self.n
        return syy, sxx, sxy


@dataclass(frozen=True)
class CupedResult:
    """CUPED's estimate of mean(treated) - mean(control) and the unadjusted one, both with
    normal `level` intervals; `theta` the covariates' coefficients; `variance_reduction`
    1 - Var(adjusted difference)/Var(plain difference), in [0, 1]."""

    adjusted: Estimate
    plain: Estimate
    theta: FloatArray
    variance_reduction: float


def cuped_difference(*, treated: Moments, control: Moments, level: float = LEVEL) -> CupedResult:
    """The CUPED-adjusted difference in means of Y between the groups: each customer's Y
    minus θ·(X - X̄), θ solving the pooled within-group covariance (least squares, so
    covariates that never vary, or repeat one another, get no weight). Random assignment
    makes X̄ the same in expectation in both groups, so the estimate stays unbiased and
    its variance shrinks by the share of Y's variance the covariates explain. The
    interval is normal: difference ± z·√(Var_t/n_t + Var_c/n_c) of the adjusted Y."""
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    syy_t, sxx_t, sxy_t = treated.centred()
    syy_c, sxx_c, sxy_c = control.centred()
    sxx, sxy = sxx_t + sxx_c, sxy_t + sxy_c
    theta: FloatArray = (
        np.asarray(np.linalg.lstsq(sxx, sxy, rcond=None)[0], dtype=np.float64)
        if sxx.size
        else np.zeros(0)
    )

    def variance(syy: float, sxx_g: FloatArray, sxy_g: FloatArray, n: int, adjust: bool) -> float:
        if n < 2:
            return math.nan
        total = syy - 2 * theta @ sxy_g + theta @ sxx_g @ theta if adjust else syy
        return max(float(total), 0.0) / (n - 1) / n

    plain_var = variance(syy_t, sxx_t, sxy_t, treated.n, False) + variance(
        syy_c, sxx_c, sxy_c, control.n, False
    )
    adjusted_var = variance(syy_t, sxx_t, sxy_t, treated.n, True) + variance(
        syy_c, sxx_c, sxy_c, control.n, True
    )
    plain_diff = treated.mean_y - control.mean_y
    adjusted_diff = plain_diff - float(theta @ (treated.mean_x - control.mean_x))
    plain_half, adjusted_half = z * math.sqrt(plain_var), z * math.sqrt(adjusted_var)
    reduction = 1.0 - adjusted_var / plain_var if plain_var > 0 else 0.0
    return CupedResult(
        adjusted=Estimate(
            adjusted_diff, adjusted_diff - adjusted_half, adjusted_diff + adjusted_half
        ),
        plain=Estimate(plain_diff, plain_diff - plain_half, plain_diff + plain_half),
        theta=theta,
        variance_reduction=min(max(reduction, 0.0), 1.0) if not math.isnan(reduction) else 0.0,
    )


def too_small(*, holdout: RevenueHistogram, recipients: RevenueHistogram) -> str | None:
    """Why the holdout comparison cannot conclude anything yet, in plain words, or None
    when it can: fewer than MIN_HOLDOUT_CUSTOMERS holdout customers, or fewer than
    MIN_BUYERS buyers in either group."""
    if holdout.customers < MIN_HOLDOUT_CUSTOMERS:
        return (
            f"Too small to conclude: {holdout.customers} holdout customers, "
            f"at least {MIN_HOLDOUT_CUSTOMERS} are needed."
        )
    if holdout.buyers < MIN_BUYERS or recipients.buyers < MIN_BUYERS:
        return (
            f"Too small to conclude: {recipients.buyers} buyers among recipients and "
            f"{holdout.buyers} in the holdout, at least {MIN_BUYERS} in each are needed."
        )
    return None


@dataclass(frozen=True)
class HoldoutComparison:
    """Recipients against the holdout over the same window from entry. `incremental`
    and `incremental_cuped` are (mean difference) * recipients with 95% intervals;
    `verdict` says in words what may be concluded (or that it is too small)."""

    recipients: RevenueHistogram
    holdout: RevenueHistogram
    difference: Estimate
    incremental: Estimate
    cuped: CupedResult | None
    incremental_cuped: Estimate | None
    too_small: str | None

    @property
    def verdict(self) -> str:
        if self.too_small:
            return self.too_small
        inc = self.incremental_cuped or self.incremental
        if inc.low > 0:
            return "The flow brought in revenue the holdout did not: the interval is above zero."
        if inc.high < 0:
            return "Recipients spent less than the holdout: the interval is below zero."
        return "No difference shown yet: the interval includes zero."


def compare_holdout(
    *,
    recipients: RevenueHistogram,
    holdout: RevenueHistogram,
    recipients_moments: Moments | None = None,
    holdout_moments: Moments | None = None,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> HoldoutComparison:
    """Everything the report says about a holdout: the bootstrap difference of revenue
    per customer (recipients - holdout), the incremental revenue (difference *
    recipients) with its interval, the CUPED estimate when both groups' moments are
    given, and whether the groups are too small to conclude."""
    difference = bootstrap_difference(
        treated=recipients, control=holdout, resamples=resamples, level=level, seed=seed
    )
    cuped = None
    if recipients_moments is not None and holdout_moments is not None:
        cuped = cuped_difference(treated=recipients_moments, control=holdout_moments, level=level)
    n = recipients.customers
    return HoldoutComparison(
        recipients=recipients,
        holdout=holdout,
        difference=difference,
        incremental=difference.scaled(n),
        cuped=cuped,
        incremental_cuped=cuped.adjusted.scaled(n) if cuped else None,
        too_small=too_small(holdout=holdout, recipients=recipients),
    )


def two_proportion_z_test(*, successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """The two-sided p-value of the pooled two-proportion z-test that a and b convert
    at the same rate (1.0 when there is nothing to compare)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (successes_a / n_a - successes_b / n_b) / se
    return float(2 * stats.norm.sf(abs(z)))


def probability_best(
    *, successes: Sequence[int], trials: Sequence[int], draws: int = 20000, seed: int = SEED
) -> list[float]:
    """For each variant, the probability that its conversion rate is the highest, from
    `draws` Monte Carlo draws of Beta(1 + successes, 1 + failures) posteriors (uniform
    priors; seeded). The probabilities add up to 1."""
    if not successes:
        return []
    rng = np.random.default_rng(seed)
    s = np.asarray(successes, dtype=np.float64)
    f = np.asarray(trials, dtype=np.float64) - s
    samples = rng.beta(1 + s, 1 + f, size=(draws, len(s)))
    best = np.bincount(samples.argmax(axis=1), minlength=len(s))
    return [float(count) / draws for count in best]
