"""bench.stats on samples whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import stats


def test_summary_of_known_samples():
    samples = [float(x) for x in range(1, 101)]  # 1..100
    s = stats.summarize(samples)
    assert s.n == 100
    assert s.median == 50.5
    assert s.mean == 50.5
    assert s.stdev == pytest.approx(np.std(samples, ddof=1))
    assert (s.min, s.max) == (1.0, 100.0)
    assert s.p10 == pytest.approx(10.9) and s.p90 == pytest.approx(90.1)
    assert s.trimmed_mean == 50.5  # symmetric
    # exact binomial CI of the median for n=100 at 95%: order statistics 40 and 61
    assert (s.ci_low, s.ci_high) == (40.0, 61.0)
    assert s.ci_low <= s.median <= s.ci_high


def test_median_ci_coverage_is_at_least_nominal():
    # Monte Carlo: the interval covers the true median of an exponential >= 95% of the time.
    rng = np.random.default_rng(0)
    true_median = math.log(2)
    hits = 0
    for _ in range(400):
        lo, hi = stats.median_ci(rng.exponential(size=31))
        hits += lo <= true_median <= hi
    assert hits / 400 >= 0.93


def test_small_samples_fall_back_to_range():
    assert stats.median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert math.isinf(stats.rel_ci_halfwidth([1.0]))


def test_trimmed_mean_ignores_outliers():
    samples = [10.0] * 18 + [1000.0, 0.001]
    s = stats.summarize(samples)
    assert s.trimmed_mean == 10.0 and s.median == 10.0 and s.mean > 50


def test_stability_warnings():
    assert stats.stability_warnings([10.0, 10.1, 9.9, 10.05, 9.95] * 4) == []
    noisy = [10.0] * 10 + [20.0] * 3
    warnings = stats.stability_warnings(noisy)
    assert any("standard deviation" in w for w in warnings)
    assert any("longest sample" in w for w in stats.stability_warnings([10.0] * 50 + [40.0]))
    assert not stats.summarize(noisy).stable


def test_precision_narrows_with_more_samples():
    # The median CI's relative half-width (what --target-precision stops on) narrows as
    # 1/sqrt(n): four times the samples, about half the width.
    rng = np.random.default_rng(1)
    pilot = list(10 + rng.normal(0, 0.5, size=20))
    now = stats.rel_ci_halfwidth(pilot)
    assert 0 < now < math.inf
    more = list(10 + rng.normal(0, 0.5, size=80))
    assert stats.rel_ci_halfwidth(more) < now


def test_bad_input():
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])


# -- rounds (one runner process each) ------------------------------------------------------------


def test_round_estimate_of_known_rounds():
    est = stats.round_estimate([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    assert est.estimator == stats.HEADLINE == "median of round medians"
    assert est.round_medians == (2.0, 5.0, 8.0) and est.median == 5.0
    # 3 rounds: no pair of order statistics reaches 95%; (min, max) covers 1 - 2 / 8 = 75%
    assert (est.ci_low, est.ci_high, est.confidence) == (2.0, 8.0, 0.75)
    assert est.p10 == pytest.approx(4.2)  # the median of the round p10s 1.2, 4.2, 7.2
    assert (est.n_rounds, est.n_samples) == (3, 9)
    with pytest.raises(ValueError):
        stats.round_estimate([])
    with pytest.raises(ValueError):
        stats.round_estimate([[1.0], []])


def test_round_estimate_ignores_how_many_iterations_a_round_has():
    # One long round does not outvote two short ones: the unit is the round.
    est = stats.round_estimate([[10.0] * 1000, [12.0] * 5, [12.0] * 5])
    assert est.median == 12.0 and est.n_samples == 1010


def test_median_ci_coverage():
    assert stats.median_ci_coverage(1) == 0.0
    assert stats.median_ci_coverage(3) == 0.75
    assert stats.median_ci_coverage(5) == 0.9375
    assert stats.median_ci_coverage(6) == stats.median_ci_coverage(100) == 0.95


def test_ratio_ci_at_three_rounds_spans_the_round_ratios():
    found = stats.ratio_ci([10.0, 10.1, 9.9], [11.0, 11.1, 10.9])
    assert found.ratio == pytest.approx(1.1) and found.rank is None  # no rank CI at 3 and 3
    assert (found.low, found.high) == (10.9 / 10.1, 11.1 / 9.9) == found.bootstrap


def test_ratio_ci_is_widened_to_the_rank_interval():
    # Round medians in two clusters (processes that drifted, and not): the bootstrap alone
    # lies above 1.05; the exact rank interval, and so the CI, holds 1.
    a = [4.32, 4.37, 4.38, 4.41, 4.44, 6.25]
    b = [4.43, 6.03, 6.05, 6.17, 6.21, 6.23]
    found = stats.ratio_ci(a, b)
    assert found.bootstrap[0] > 1.05
    assert found.rank is not None and found.rank[0] < 1.0
    assert found.low == found.rank[0] and found.low <= found.ratio <= found.high
    assert stats.ratio_ci(a, b) == found  # seeded: the same rounds, the same interval


def test_mann_whitney_distribution_is_exact():
    from itertools import combinations

    for n, m in [(3, 3), (4, 5), (6, 6)]:
        counts = np.zeros(n * m + 1)
        for first in combinations(range(n + m), n):
            rest = set(range(n + m)) - set(first)
            counts[sum(1 for i in first for j in rest if j < i)] += 1
        assert np.allclose(np.cumsum(counts) / counts.sum(), stats._mann_whitney_cdf(n, m))
    # Beyond EXACT_RANKS the normal approximation takes over, close to the exact tail.
    exact, approx = stats._mann_whitney_cdf(20, 20), stats._mann_whitney_cdf(21, 20)
    assert exact[130] == pytest.approx(0.0298, abs=1e-3) and 0.0 < approx[130] < exact[130]
