"""The holdout and A/B statistics on hand-made data whose answer is known."""

import time

import numpy as np
import pytest
from scipy import stats

from aftersale.reports.statistics import (
    Moments,
    RevenueHistogram,
    bootstrap_difference,
    bootstrap_mean,
    compare_holdout,
    cuped_difference,
    probability_best,
    two_proportion_z_test,
)


def _revenues(rng: np.random.Generator, n: int, *, conversion: float, scale: float) -> np.ndarray:
    """Mostly zero, heavy-tailed: a buyer's revenue is lognormal around `scale`."""
    bought = rng.random(n) < conversion
    return np.where(bought, np.round(rng.lognormal(np.log(scale), 1.0, n), 2), 0.0)


def test_histogram_from_rows_adds_the_same_value_and_keeps_the_mean():
    hist = RevenueHistogram.from_pairs([(0, 7), (10.5, 2), (0, 1), (3, 0)])
    assert hist.customers == 10
    assert hist.buyers == 2
    assert hist.mean == pytest.approx(2.1)
    assert hist.conversion == pytest.approx(0.2)


def test_compressing_many_distinct_values_keeps_count_and_mean_and_spread():
    rng = np.random.default_rng(1)
    values = _revenues(rng, 200_000, conversion=0.3, scale=60)
    hist = RevenueHistogram.from_values(values)
    assert len(hist.values) > 10_000
    small = hist.compressed(max_distinct=2000)
    assert len(small.values) <= 2000
    assert small.customers == hist.customers
    assert small.mean == pytest.approx(hist.mean, rel=1e-12)
    spread = float(small.counts @ (small.values - small.mean) ** 2) / small.customers
    assert spread == pytest.approx(values.var(), rel=1e-3)


def test_bootstrap_interval_of_a_mean_matches_the_normal_interval_on_large_data():
    rng = np.random.default_rng(2)
    values = _revenues(rng, 20_000, conversion=0.2, scale=50)
    est = bootstrap_mean(RevenueHistogram.from_values(values), seed=3)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert est.low == pytest.approx(values.mean() - half, rel=0.03)
    assert est.high == pytest.approx(values.mean() + half, rel=0.03)


def test_bootstrap_interval_covers_the_known_difference_about_95_percent_of_the_time():
    truth_treated, truth_control = 0.12 * 50 * np.exp(0.5), 0.10 * 50 * np.exp(0.5)
    covered = 0
    for trial in range(100):
        rng = np.random.default_rng(100 + trial)
        treated = RevenueHistogram.from_values(_revenues(rng, 3000, conversion=0.12, scale=50))
        control = RevenueHistogram.from_values(_revenues(rng, 1000, conversion=0.10, scale=50))
        est = bootstrap_difference(treated=treated, control=control, resamples=500, seed=trial)
        covered += est.covers(truth_treated - truth_control)
    assert 88 <= covered <= 100


def test_the_same_seed_gives_the_same_interval():
    rng = np.random.default_rng(4)
    a = RevenueHistogram.from_values(_revenues(rng, 3000, conversion=0.1, scale=40))
    b = RevenueHistogram.from_values(_revenues(rng, 300, conversion=0.1, scale=40))
    assert bootstrap_difference(treated=a, control=b, seed=7) == bootstrap_difference(
        treated=a, control=b, seed=7
    )


def test_bootstrap_on_a_million_customers_takes_well_under_a_second():
    rng = np.random.default_rng(5)
    treated = RevenueHistogram.from_values(_revenues(rng, 900_000, conversion=0.15, scale=60))
    control = RevenueHistogram.from_values(_revenues(rng, 100_000, conversion=0.15, scale=60))
    started = time.perf_counter()
    bootstrap_difference(treated=treated, control=control)
    assert time.perf_counter() - started < 0.5


def test_cuped_reduces_variance_on_correlated_data_and_keeps_the_estimate_unbiased():
    rng = np.random.default_rng(6)
    n_t, n_c, effect = 20_000, 20_000, 2.0
    x_t, x_c = rng.gamma(2.0, 20.0, n_t), rng.gamma(2.0, 20.0, n_c)
    y_t = 0.8 * x_t + rng.normal(0, 20, n_t) + effect
    y_c = 0.8 * x_c + rng.normal(0, 20, n_c)
    result = cuped_difference(
        treated=Moments.from_arrays(y_t, x_t), control=Moments.from_arrays(y_c, x_c)
    )
    assert result.theta[0] == pytest.approx(0.8, abs=0.02)
    # Var(0.8X) = 0.64 * 800 = 512 of a total 912: the covariate explains 56%.
    assert result.variance_reduction == pytest.approx(512 / 912, abs=0.03)
    assert result.adjusted.width < result.plain.width * 0.7
    assert result.adjusted.covers(effect)
    assert result.plain.value == pytest.approx(y_t.mean() - y_c.mean())


def test_cuped_with_several_covariates_uses_each_and_ignores_one_that_never_varies():
    rng = np.random.default_rng(7)
    n = 10_000
    x = np.column_stack([rng.normal(0, 1, 2 * n), rng.normal(0, 1, 2 * n), np.zeros(2 * n)])
    y = 3 * x[:, 0] + 2 * x[:, 1] + rng.normal(0, 1, 2 * n)
    result = cuped_difference(
        treated=Moments.from_arrays(y[:n], x[:n]), control=Moments.from_arrays(y[n:], x[n:])
    )
    assert result.theta == pytest.approx([3, 2, 0], abs=0.05)
    assert result.variance_reduction == pytest.approx(13 / 14, abs=0.01)


def test_moments_from_sql_sums_equal_the_moments_of_the_rows():
    rng = np.random.default_rng(8)
    y, x = rng.random(50), rng.random((50, 2))
    rows = Moments.from_arrays(y, x)
    sums = Moments.from_sums(
        n=50,
        sum_y=float(y.sum()),
        sum_yy=float(y @ y),
        sum_x=list(x.sum(axis=0)),
        sum_xx=(x.T @ x).tolist(),
        sum_xy=list(x.T @ y),
    )
    assert sums.centred()[0] == pytest.approx(rows.centred()[0])
    assert np.allclose(sums.centred()[1], rows.centred()[1])


def test_two_proportion_test_agrees_with_scipys_chi_square_on_the_two_by_two_table():
    for a, n_a, b, n_b in [(120, 1000, 150, 1000), (30, 400, 31, 380), (5, 90, 0, 110)]:
        table = [[a, n_a - a], [b, n_b - b]]
        expected = stats.chi2_contingency(table, correction=False).pvalue
        assert two_proportion_z_test(successes_a=a, n_a=n_a, successes_b=b, n_b=n_b) == (
            pytest.approx(expected, rel=1e-9)
        )


def test_probability_best_favours_the_clear_winner_and_adds_up_to_one():
    probs = probability_best(successes=[100, 150], trials=[1000, 1000])
    assert sum(probs) == pytest.approx(1.0)
    assert probs[1] > 0.99
    even = probability_best(successes=[100, 100, 100], trials=[1000, 1000, 1000])
    assert even == pytest.approx([1 / 3] * 3, abs=0.02)
    assert probability_best(successes=[1, 2], trials=[10, 10], seed=3) == probability_best(
        successes=[1, 2], trials=[10, 10], seed=3
    )


def test_a_small_holdout_is_too_small_to_conclude():
    recipients = RevenueHistogram.from_pairs([(0, 800), (50, 100)])
    tiny = compare_holdout(
        recipients=recipients, holdout=RevenueHistogram.from_pairs([(0, 90), (50, 9)])
    )
    assert tiny.too_small and "99 holdout customers" in tiny.too_small
    few_buyers = compare_holdout(
        recipients=recipients, holdout=RevenueHistogram.from_pairs([(0, 200), (50, 5)])
    )
    assert few_buyers.too_small and "5 in the holdout" in few_buyers.too_small
    enough = compare_holdout(
        recipients=recipients, holdout=RevenueHistogram.from_pairs([(0, 200), (50, 20)])
    )
    assert enough.too_small is None
    assert enough.incremental.value == pytest.approx((100 * 50 / 900 - 20 * 50 / 220) * 900)


def test_cuped_interval_covers_no_effect_about_95_percent_of_the_time():
    covered = 0
    for trial in range(200):
        rng = np.random.default_rng(500 + trial)
        x = rng.gamma(1.0, 30.0, 2000)
        y = np.where(rng.random(2000) < 0.2, 0.7 * x + rng.lognormal(2, 1, 2000), 0.0)
        held = rng.random(2000) < 0.1
        result = cuped_difference(
            treated=Moments.from_arrays(y[~held], x[~held]),
            control=Moments.from_arrays(y[held], x[held]),
        )
        covered += result.adjusted.covers(0.0)
    assert 180 <= covered <= 198
